/**
 * The run directory contract (DESIGN.md): config.json, metrics.jsonl, summary.json, model/,
 * charts. A directory that already holds a run is refused unless the caller forces it.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { appendJsonLine, writeJsonAtomic } from './files.js';

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  model: 'model',
  charts: 'charts',
  checkpoint: 'checkpoint',
  /** The --model-file the run started from (model.json + weights.bin), which --resume and `reptile eval` rebuild it from. */
  sourceModel: 'source-model',
} as const;

/** Thrown for a run directory the user must choose differently (a usage error). */
export class RunDirError extends Error {}

export function holdsRun(dir: string): boolean {
  return [RUN_FILES.config, RUN_FILES.metrics, RUN_FILES.summary].some((f) => existsSync(join(dir, f)));
}

export class RunDir {
  private constructor(readonly path: string) {}

  /**
   * Creates (or, with `force`, clears the run files of) `path`. Files that are not part of a
   * run are left alone.
   */
  static async create(path: string, { force = false } = {}): Promise<RunDir> {
    if (holdsRun(path)) {
      if (!force) throw new RunDirError(`--out ${path} already holds a run; choose another --out or pass --force to replace it`);
      for (const f of Object.values(RUN_FILES)) await rm(join(path, f), { recursive: true, force: true });
    }
    try {
      await mkdir(path, { recursive: true });
    } catch (error) {
      throw new RunDirError(`--out ${path}: cannot create the directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); choose another --out`);
    }
    return new RunDir(path);
  }

  /** An existing run (for --resume and `reptile eval`). */
  static open(path: string, flag = '--resume'): RunDir {
    if (!existsSync(join(path, RUN_FILES.config))) throw new RunDirError(`${flag} ${path}: no run there (no ${RUN_FILES.config})`);
    return new RunDir(path);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeConfig(config: unknown): Promise<void> {
    return writeJsonAtomic(this.file(RUN_FILES.config), config);
  }

  writeSummary(summary: unknown): Promise<void> {
    return writeJsonAtomic(this.file(RUN_FILES.summary), summary);
  }

  appendMetrics(point: { iteration: number; elapsedSeconds: number } & Record<string, unknown>): Promise<void> {
    return appendJsonLine(this.file(RUN_FILES.metrics), point);
  }
}
