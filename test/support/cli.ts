/**
 * Shared helpers of the CLI tests: run `reptile` (dist/src/cli/main.js) as a child process and
 * collect its output, kill a run at a named point (the test hooks, docs/cli.md), read the JSON
 * files a run writes and its checkpoint's position, compare two runs' results, hash a directory
 * tree to tell whether a command touched it, and check a one-line usage error.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI: dist/test/support/<this>.js -> dist/src/cli/main.js. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliResult {
  code: number | null;
  /** The signal that ended the process, if one did (e.g. SIGKILL). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  /**
   * Variables set in the child's copy of process.env; an `undefined` value removes the variable.
   * Without it the child inherits process.env as is.
   */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The script to run instead of the CLI (with `args` after it). */
  script?: string;
  /** Written to the child's stdin, which is then closed; without it stdin is not connected. */
  input?: string;
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<CliResult>;
}

/** Processes started by startCli/runCli that have not ended yet. */
const running = new Set<ChildProcess>();

/** Starts `reptile args...` without waiting for it; `done` settles when it ends. */
export function startCli(args: string[], options: RunCliOptions = {}): RunningCli {
  let env: NodeJS.ProcessEnv | undefined;
  if (options.env) {
    env = { ...process.env, ...options.env };
    for (const [key, value] of Object.entries(options.env)) if (value === undefined) delete env[key];
  }
  const child = spawn(process.execPath, [options.script ?? CLI, ...args], {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(env ? { env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  running.add(child);
  if (options.input !== undefined) {
    // A child that exits without reading all of it closes the pipe: not an error of the test's.
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.input);
  }
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolvePromise, reject) => {
    child.on('error', (error) => {
      running.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

/** Runs `reptile args...` to its end: exit code, signal, stdout and stderr. */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Runs `reptile args...` and asserts that it exited with code 0. */
export async function runOk(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const r = await runCli(args, options);
  assert.equal(r.code, 0, `reptile ${args.join(' ')} exited ${r.signal ?? r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** runCli and runOk with the same options for every command; `options` is called per command. */
export function cliWith(options: () => RunCliOptions): { runCli: typeof runCli; runOk: typeof runOk } {
  return {
    runCli: (args, more = {}) => runCli(args, { ...options(), ...more }),
    runOk: (args, more = {}) => runOk(args, { ...options(), ...more }),
  };
}

/**
 * Runs `reptile args...` with the test hook REPTILE_TEST_KILL_AT=`point` (docs/cli.md, "Test
 * hooks") and asserts that the run killed itself there (SIGKILL) rather than ending.
 */
export async function runKilledAt(args: string[], point: string, options: RunCliOptions = {}): Promise<CliResult> {
  const r = await runCli(args, { ...options, env: { ...options.env, REPTILE_TEST_KILL_AT: point } });
  assert.equal(r.signal, 'SIGKILL', `reptile ${args.join(' ')} with REPTILE_TEST_KILL_AT=${point} ended (${r.code}) instead of being killed there\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Phase and iteration of a run's checkpoint, read from its JSON header (no TensorFlow needed); undefined without one. */
export function checkpointAt(dir: string): { phase: number; iteration: number } | undefined {
  const path = join(dir, 'checkpoint', 'state.bin');
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'));
  return { phase: header.extra.phase, iteration: header.iteration };
}

/** metrics.jsonl's lines without their elapsedSeconds (the one field that depends on the clock). */
export async function metricsWithoutTime(dir: string): Promise<Record<string, unknown>[]> {
  return (await readJsonLines(join(dir, 'metrics.jsonl'))).map((m) => {
    assert.equal(typeof m.elapsedSeconds, 'number');
    delete m.elapsedSeconds;
    return m;
  });
}

/**
 * Run `b` ended with run `a`'s results: summary.json's numbers (not its times), metrics.jsonl but
 * its times, the exported model and every chart, byte for byte.
 */
export async function assertSameResults(a: string, b: string): Promise<void> {
  const [sa, sb] = [await readJson(join(a, 'summary.json')), await readJson(join(b, 'summary.json'))];
  for (const key of ['benchmark', 'algorithm', 'metaIters', 'backend', 'eval']) assert.deepEqual(sb[key], sa[key], `summary.json ${key}`);
  assert.equal(sb.baseline?.algorithm, sa.baseline?.algorithm, 'summary.json baseline.algorithm');
  assert.deepEqual(sb.baseline?.eval, sa.baseline?.eval, 'summary.json baseline.eval');
  const [ma, mb] = [await metricsWithoutTime(a), await metricsWithoutTime(b)];
  assert.equal(mb.length, ma.length, 'number of metrics.jsonl lines');
  assert.deepEqual(mb, ma, 'metrics.jsonl without elapsedSeconds');
  const charts = (await readdir(join(a, 'charts'))).map((f) => `charts/${f}`);
  for (const f of ['model/weights.bin', 'model/model.json', ...charts]) {
    assert.ok((await readFile(join(b, f))).equals(await readFile(join(a, f))), `${f} differs from the uninterrupted run's`);
  }
}

/** Kills (SIGKILL) every CLI process started here that is still running: for `after` hooks. */
export function killRunningClis(): void {
  for (const child of running) child.kill('SIGKILL');
}

export async function readJson(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** The non-blank lines of a JSON Lines file, parsed. */
export async function readJsonLines(path: string): Promise<any[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/**
 * Every file under `dir` (relative path -> sha256 of its bytes), to tell whether a command touched
 * it. Symbolic links are hashed by what they point to, and not followed into directories.
 */
export async function hashTree(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() || entry.isSymbolicLink()) hashes.set(relative(dir, full), createHash('sha256').update(await readFile(full)).digest('hex'));
    }
  };
  await walk(dir);
  return hashes;
}

/**
 * A usage error: exit code 2 and exactly one line on stderr, `error: ...`, with no stack trace,
 * matching `mentions` (a pattern, or strings the line must contain and patterns it must match).
 * Returns the line.
 */
export function assertOneLineUsageError(result: CliResult, mentions: RegExp | (string | RegExp)[], what: string): string {
  assert.equal(result.code, 2, `${what}: exit code ${result.signal ?? result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got:\n${result.stderr}`);
  const line = lines[0];
  assert.match(line, /^error: /, `${what}: ${line}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${what}: stack trace`);
  for (const m of Array.isArray(mentions) ? mentions : [mentions]) {
    if (typeof m === 'string') assert.ok(line.includes(m), `${what}: the error line should mention ${JSON.stringify(m)}: ${line}`);
    else assert.match(line, m, `${what}: ${line}`);
  }
  return line;
}
