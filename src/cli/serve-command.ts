/**
 * `reptile serve RUN_DIR` (the few-shot / sine demo page for one run, or --export it as static
 * files) and `reptile dashboard RUNS_DIR` (every run in a folder: curves and summaries side by
 * side, live while they train). Both bind 127.0.0.1 unless --host is given.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Command, Option } from 'commander';
import { integer } from './parse.js';
import { UsageError } from './errors.js';
import { DEFAULT_HOST, startServer, type RunningServer } from '../serve/server.js';
import { runName, runsFolder, singleRun, type RunSource } from '../serve/run-source.js';
import { readRunStatus } from '../serve/run-status.js';
import { omniglotSamples } from '../serve/omniglot-samples.js';
import { exportStatic, ExportError } from '../serve/static-export.js';

function hostOption(): Option {
  return new Option('--host <address>', `address to listen on (default ${DEFAULT_HOST}: this machine only)`);
}

function portOption(fallback: number): Option {
  return new Option('--port <n>', `port (0: any free port)`).argParser(integer(0, 65535)).default(fallback);
}

/** A server that could not start: a usage error naming the flag for a busy port or a foreign address. */
function serverError(code: string | undefined, portFlag: string, hostFlag: string, message: string | undefined): never {
  if (code === 'EADDRINUSE') throw new UsageError(`${portFlag}: already in use; choose another port (0: any free one)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`${hostFlag}: not an address of this machine`);
  throw new Error(message ?? 'the server could not start');
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(host);
}

/** Starts a server and says where; a host other than loopback gets a warning. */
export async function serveRuns(source: RunSource, flags: { host?: string; port?: number; data?: string }, page: string, log: (line: string) => void): Promise<RunningServer> {
  const host = flags.host ?? DEFAULT_HOST;
  let server: RunningServer;
  try {
    server = await startServer({ source, host, port: flags.port ?? 0, samples: (_name, _dir, status) => omniglotSamples(status, flags.data) });
  } catch (error) {
    serverError((error as NodeJS.ErrnoException).code, `--port ${flags.port}`, `--host ${host}`, (error as Error).message);
  }
  if (!isLoopback(host)) {
    log(`warning: listening on ${host}: anyone who can reach this machine can read these runs and their models`);
  }
  log(`serving ${server.url}${page}  (Ctrl-C to stop)`);
  return server;
}

/** The shipped 5-way 1-shot Omniglot model (the paper's budget), served when no run is named. */
export const SHIPPED_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models', 'omniglot-5w1s');

function existingDir(flag: string, dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: no such directory`);
}

/** Keeps the process alive until SIGINT/SIGTERM, then closes the server. */
function untilStopped(server: RunningServer): Promise<void> {
  return new Promise((resolvePromise) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolvePromise);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description("the in-browser demo for a run: draw (or sample) Omniglot symbols and adapt, or click sine points; --export writes it as static files")
    .argument('[run-dir]', 'a directory written by reptile train (default: the shipped models/omniglot-5w1s)')
    .addOption(hostOption())
    .addOption(portOption(8080))
    .addOption(new Option('--data <dir>', "Omniglot data for the page's test characters (default: the run's --data)"))
    .addOption(new Option('--export <dir>', 'write the page and the run as static files to <dir> (new or empty) instead of serving'))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (given: string | undefined, flags: { host?: string; port: number; data?: string; export?: string }) => {
      const dir = given ?? SHIPPED_MODEL_DIR;
      if (given === undefined) console.log(`the shipped model ${dir} (5-way 1-shot Omniglot, 100000 meta-iterations)`);
      existingDir('serve', dir);
      const name = runName(dir);
      const status = await readRunStatus(name, dir);
      if (status.state === 'error') throw new UsageError(`serve ${dir}: ${status.error}`);
      if (flags.export) {
        try {
          const notes = await exportStatic(name, dir, flags.export, status.config?.benchmark === 'omniglot' ? (s) => omniglotSamples(s, flags.data) : undefined);
          for (const note of notes) console.log(`note: ${note}`);
        } catch (error) {
          if (error instanceof ExportError) throw new UsageError(error.message);
          throw error;
        }
        console.log(`Written to ${flags.export}/: serve it with any static web server (see docs/browser.md)`);
        return;
      }
      const page = status.config?.benchmark === 'sine' ? `sine.html?run=${name}` : `?run=${name}`;
      await untilStopped(await serveRuns(singleRun(dir), flags, page, (line) => console.log(line)));
    });
  program
    .command('dashboard')
    .description('list the runs in a folder and compare their curves and summaries, live while they train')
    .argument('<runs-dir>', 'a folder of run directories (e.g. runs/)')
    .addOption(hostOption())
    .addOption(portOption(8080))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (dir: string, flags: { host?: string; port: number }) => {
      existingDir('dashboard', dir);
      await untilStopped(await serveRuns(runsFolder(dir), flags, 'dashboard.html', (line) => console.log(line)));
    });
}

/** `reptile train`'s --dashboard flags. */
export function dashboardOptions(): Option[] {
  return [
    new Option('--dashboard [port]', 'serve a live view of the run while it trains (default port: any free one)').argParser(integer(0, 65535)),
    new Option('--dashboard-host <address>', `address the dashboard listens on (default ${DEFAULT_HOST})`),
  ];
}

/** Runs `job` with the run's live dashboard served (from a worker thread) while it lasts, if --dashboard was given. */
export async function withDashboard<T>(flags: Record<string, unknown>, runDir: string, job: () => Promise<T>): Promise<T> {
  if (flags.dashboard === undefined && flags.dashboardHost === undefined) return job();
  const port = typeof flags.dashboard === 'number' ? flags.dashboard : 0;
  const host = flags.dashboardHost ? String(flags.dashboardHost) : DEFAULT_HOST;
  const worker = new Worker(new URL('../serve/server-worker.js', import.meta.url), { workerData: { runDir, host, port } });
  const started = await new Promise<{ url?: string; error?: string; code?: string }>((resolvePromise, reject) => {
    worker.once('message', resolvePromise);
    worker.once('error', reject);
  });
  if (!started.url) {
    await worker.terminate();
    serverError(started.code, `--dashboard ${port}`, `--dashboard-host ${host}`, started.error);
  }
  if (!isLoopback(host)) console.log(`dashboard: warning: listening on ${host}: anyone who can reach this machine can read this run and its model`);
  console.log(`dashboard: serving ${started.url}dashboard.html?run=${runName(runDir)}`);
  try {
    return await job();
  } finally {
    // Let open pages receive the final state before the server goes away.
    await new Promise((r) => setTimeout(r, 1500));
    worker.postMessage('close');
    await new Promise((r) => worker.once('exit', r));
  }
}
