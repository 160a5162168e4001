/**
 * The HTTP server behind `reptile serve`, `reptile dashboard` and `reptile train --dashboard`
 * (node:http; the built page is served by sirv, which only serves files it listed at start).
 *
 *   /                         the built page (dist/page): index.html (few-shot demo), sine.html, dashboard.html
 *   /runs.json                the runs and their state
 *   /runs/<name>/run.json     a run's config, summary and metrics (an error message if damaged)
 *   /runs/<name>/events       server-sent events: metrics lines as they are appended, then the summary
 *   /runs/<name>/<file>       a run's own files (config.json, model/model.json, model/weights.bin, ...)
 *   /runs/<name>/omniglot-samples.json   test characters of the run's Omniglot split (when its data is at hand)
 *
 * The same URLs hold in a static export (./static-export.ts), except the live ones (events).
 * Binds 127.0.0.1 unless told otherwise. A request that fails answers 4xx/5xx with a one-line
 * message; nothing a run directory holds can crash the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';
import { readRunStatus, type RunStatus } from './run-status.js';
import type { RunSource } from './run-source.js';
import { insideDir, runFilePath } from './safe-path.js';
import { streamMetrics } from './events.js';
import { SAMPLES_FILE, type OmniglotSamples } from '../demo/samples.js';

/** dist/src/serve/<this>.js -> dist/page (the Vite build). */
export const PAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'page');

export const DEFAULT_HOST = '127.0.0.1';

export interface ServerOptions {
  source: RunSource;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Test characters for a run's page, if it can have them (e.g. from the run's --data). */
  samples?: (name: string, dir: string, status: RunStatus) => Promise<OmniglotSamples>;
  pageDir?: string;
  /** How often event streams look for new metrics lines (ms). */
  pollMs?: number;
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  json: 'application/json',
  jsonl: 'application/x-ndjson',
  bin: 'application/octet-stream',
  svg: 'image/svg+xml',
  png: 'image/png',
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

/** A run's list entry: no metrics, which can be long. */
function listEntry(s: RunStatus) {
  return { name: s.name, state: s.state, error: s.error, config: s.config, summary: s.summary, points: s.metrics.length };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const pageDir = options.pageDir ?? PAGE_DIR;
  if (!existsSync(resolve(pageDir, 'index.html'))) throw new Error(`the page is not built (no ${pageDir}/index.html): run 'npm run build'`);
  const page = sirv(pageDir, { dev: false, etag: true, extensions: ['html'] });
  const samplesCache = new Map<string, Promise<OmniglotSamples>>();
  const streams = new Set<() => void>();

  async function runFile(req: IncomingMessage, res: ServerResponse, name: string, dir: string, rest: string): Promise<void> {
    if (rest === 'run.json') return send(res, 200, await readRunStatus(name, dir));
    if (rest === 'events') {
      streams.add(streamMetrics(req, res, name, dir, options.pollMs ?? 300, (stop) => streams.delete(stop)));
      return;
    }
    if (rest === SAMPLES_FILE) {
      if (!options.samples) return send(res, 404, `${SAMPLES_FILE}: this server has no Omniglot data for ${name}`);
      const status = await readRunStatus(name, dir);
      if (status.state === 'error') return send(res, 409, `${name}: ${status.error}`);
      let pending = samplesCache.get(name);
      if (!pending) samplesCache.set(name, (pending = options.samples(name, dir, status)));
      try {
        return send(res, 200, await pending);
      } catch (error) {
        samplesCache.delete(name);
        return send(res, 404, `${SAMPLES_FILE}: ${(error as Error).message}`);
      }
    }
    const relative = runFilePath(rest);
    if (!relative) return send(res, 404, `not a file of a run: ${rest}`);
    const file = await insideDir(dir, relative);
    if (!file) return send(res, 404, `${name}/${relative}: not found`);
    const info = await stat(file);
    if (!info.isFile()) return send(res, 404, `${name}/${relative}: not a file`);
    res.writeHead(200, { 'content-type': TYPES[relative.slice(relative.lastIndexOf('.') + 1)] ?? 'application/octet-stream', 'content-length': info.size, 'cache-control': 'no-store' });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET and HEAD');
    const url = new URL(req.url ?? '/', 'http://localhost');
    // The raw (still encoded) path: decoding happens once, per segment, below.
    const path = (req.url ?? '/').split('?')[0];
    if (url.pathname === '/runs.json') {
      const runs = await options.source.runs();
      return send(res, 200, await Promise.all([...runs].map(async ([name, dir]) => listEntry(await readRunStatus(name, dir)))));
    }
    const match = /^\/runs\/([^/]+)\/(.+)$/.exec(path);
    if (match) {
      const runs = await options.source.runs();
      let name: string;
      try {
        name = decodeURIComponent(match[1]);
      } catch {
        return send(res, 400, 'bad run name');
      }
      const dir = runs.get(name);
      if (!dir) return send(res, 404, `no run named ${name}`);
      return runFile(req, res, name, dir, match[2]);
    }
    page(req, res, () => send(res, 404, `not found: ${url.pathname}`));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) send(res, 500, `error: ${error.message}`);
      else res.destroy();
    });
  });
  const host = options.host ?? DEFAULT_HOST;
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolvePromise());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolvePromise) => {
        for (const stop of streams) stop();
        server.close(() => resolvePromise());
        server.closeAllConnections();
      }),
  };
}
