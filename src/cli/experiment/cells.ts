/**
 * Cells of an experiment or a search: each cell is one `reptile train` run in its own run
 * directory, started as a child process (each process has its own TensorFlow.js backend and uses
 * one core), at most `jobs` at a time. A cell is finished when its run directory has
 * summary.json (or diverged.json, written here when the run stopped on a diverging loss); a
 * re-run skips finished cells and redoes any other (a half-written run is replaced with --force).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { readJsonLines, writeJsonAtomic } from '../../io/files.js';
import { RUN_FILES } from '../../io/run-dir.js';
import type { Benchmark, TrainConfig } from '../config.js';

/** The settings a cell passes to `reptile train --config` (keys as in config.json). */
export type CellSettings = Partial<Omit<TrainConfig, 'benchmark' | 'out' | 'force'>>;

export interface Cell {
  benchmark: Benchmark;
  settings: CellSettings;
  /** What this cell stands for in tables (e.g. { algorithm: 'reptile' }); not passed to train. */
  labels: Record<string, string | number>;
}

export type CellStatus = 'done' | 'diverged' | 'failed';

export interface CellResult {
  cell: Cell;
  id: string;
  dir: string;
  status: CellStatus;
  /** True when a previous invocation had finished it. */
  reused: boolean;
  /** The run's config.json (every resolved setting). */
  config?: Record<string, unknown>;
  /** The run's summary.json. */
  summary?: Record<string, unknown>;
  /** The run's metrics.jsonl. */
  metrics: Record<string, unknown>[];
  /** Why it diverged or failed (the last line the run printed on stderr). */
  message?: string;
}

const DIVERGED_FILE = 'diverged.json';
/** The cell's settings, given to `reptile train --config`. */
const CELL_FILE = 'cell-settings.json';
const LOG_FILE = 'train.log';

/** The compiled CLI next to this module: dist/src/cli/experiment/cells.js -> dist/src/cli/main.js. */
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../main.js');

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A hash of everything the run depends on: cells with equal settings are one run. */
export function cellHash(cell: Cell): string {
  return createHash('sha256').update(stableJson({ benchmark: cell.benchmark, settings: cell.settings })).digest('hex').slice(0, 10);
}

/**
 * A readable, stable directory name: benchmark, labels and seed, then the settings' hash (so
 * changing a flag never reuses a cell trained with other settings).
 */
export function cellId(cell: Cell): string {
  const words = [cell.benchmark, ...Object.values(cell.labels).map(String), `s${cell.settings.seed ?? 0}`];
  return `${words.join('-').replace(/[^A-Za-z0-9._-]+/g, '_')}-${cellHash(cell)}`;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The finished result in `dir`, if the cell there is finished. */
async function finishedResult(cell: Cell, id: string, dir: string, reused: boolean): Promise<CellResult | undefined> {
  const summary = await readJson(join(dir, RUN_FILES.summary));
  const diverged = summary ? undefined : await readJson(join(dir, DIVERGED_FILE));
  if (!summary && !diverged) return undefined;
  return {
    cell,
    id,
    dir,
    status: summary ? 'done' : 'diverged',
    reused,
    config: await readJson(join(dir, RUN_FILES.config)),
    ...(summary ? { summary } : {}),
    metrics: await readJsonLines(join(dir, RUN_FILES.metrics)),
    ...(diverged ? { message: String(diverged.message) } : {}),
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').replace(/^error: /, '');
}

/** Training processes still running: stopped with this process (SIGINT, SIGTERM), so none is left behind. */
const children = new Set<ReturnType<typeof spawn>>();
let stopHandlers = false;
function stopChildrenOnSignals(): void {
  if (stopHandlers) return;
  stopHandlers = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of children) child.kill('SIGTERM');
      process.exit(130);
    });
  }
}

/** Runs `reptile train` for the cell into `dir` (replacing whatever half-run is there). */
export async function trainCell(cell: Cell, dir: string, extraArgs: string[]): Promise<{ code: number | null; stderr: string }> {
  await mkdir(dir, { recursive: true });
  await rm(join(dir, DIVERGED_FILE), { force: true });
  const settingsFile = join(dir, CELL_FILE);
  await writeJsonAtomic(settingsFile, { benchmark: cell.benchmark, ...cell.settings });
  const log = createWriteStream(join(dir, LOG_FILE));
  // Cells already run in parallel (--jobs): each adapts its meta-batches in its main thread only
  // (--workers 1 gives the same numbers as any other n >= 1, so results do not depend on the machine).
  const child = spawn(process.execPath, [CLI, 'train', cell.benchmark, '--config', settingsFile, '--out', dir, '--force', '--workers', '1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('close', () => children.delete(child));
  let stderr = '';
  child.stdout.pipe(log, { end: false });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    log.write(chunk);
  });
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', (c) => done(c));
  });
  await new Promise<void>((done) => log.end(done));
  return { code, stderr };
}

export interface RunCellsOptions {
  /** Folder holding one run directory per cell. */
  dir: string;
  jobs: number;
  log: (line: string) => void;
  /** Flags added to a cell's `reptile train` (e.g. --data, --backend); not part of the cell's identity. */
  extraArgs?: (cell: Cell) => string[];
  /** Describes a finished cell's result in its progress line. */
  describe?: (result: CellResult) => string;
  /** What trains a cell into its directory (default: a child process here, trainCell; --broker: a worker). */
  trainer?: CellTrainer;
}

export type CellTrainer = (cell: Cell, id: string, dir: string, extraArgs: string[]) => Promise<{ code: number | null; stderr: string }>;

/**
 * Runs every cell that is not finished yet, `jobs` at a time, and returns all results in the
 * cells' order. Cells with equal settings (e.g. the default point of several sweeps) run once,
 * in the directory named after the first of them, and share the result.
 */
export async function runCells(cells: Cell[], options: RunCellsOptions): Promise<CellResult[]> {
  stopChildrenOnSignals();
  const limit = pLimit(Math.max(1, options.jobs));
  const hashes = cells.map(cellHash);
  const unique = new Map<string, Cell>();
  cells.forEach((cell, i) => unique.has(hashes[i]) || unique.set(hashes[i], cell));
  const total = unique.size;
  let started = 0;
  const results = new Map<string, Promise<CellResult>>();
  for (const [hash, cell] of unique) {
    const id = cellId(cell);
    const dir = join(options.dir, id);
    results.set(
      hash,
      limit(async (): Promise<CellResult> => {
        const earlier = await finishedResult(cell, id, dir, true);
        if (earlier) return earlier;
        const n = ++started;
        const start = performance.now();
        options.log(`[${n}/${total}] ${id}: training`);
        const train: CellTrainer = options.trainer ?? ((c, _id, d, extra) => trainCell(c, d, extra));
        const { code, stderr } = await train(cell, id, dir, options.extraArgs?.(cell) ?? []);
        const seconds = ((performance.now() - start) / 1000).toFixed(0);
        if (code !== 0 && /diverged/.test(stderr)) await writeJsonAtomic(join(dir, DIVERGED_FILE), { message: lastLine(stderr) });
        const result = (await finishedResult(cell, id, dir, false)) ?? { cell, id, dir, status: 'failed' as const, reused: false, metrics: [], message: lastLine(stderr) || `exit code ${code}` };
        const what = result.status === 'done' ? options.describe?.(result) ?? 'done' : `${result.status}: ${result.message}`;
        options.log(`[${n}/${total}] ${id}: ${what} (${seconds} s)`);
        return result;
      }),
    );
  }
  const settled = new Map<string, CellResult>();
  for (const [hash, promise] of results) settled.set(hash, await promise);
  return cells.map((cell, i) => ({ ...settled.get(hashes[i])!, cell }));
}
