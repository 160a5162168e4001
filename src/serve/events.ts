/**
 * Server-sent events for a run: every metrics.jsonl point as it is appended ('metrics', a JSON
 * array of new points), the run's state when it changes ('state': running / finished / error
 * with its message). The file is polled (fs.watch misses appends on some file systems and
 * editors' atomic renames); each poll reads only the bytes after the last complete line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FILES } from '../io/run-dir.js';
import { parseMetrics, readRunStatus } from './run-status.js';

/** Starts streaming; returns a function that ends the stream (also called when the client leaves). */
export function streamMetrics(req: IncomingMessage, res: ServerResponse, name: string, dir: string, pollMs: number, onEnd: (stop: () => void) => void): () => void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.write('retry: 1000\n\n');
  let offset = 0;
  let lastState = '';
  let busy = false;
  let ended = false;
  const event = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);

  async function readNew(): Promise<void> {
    let handle;
    try {
      handle = await open(join(dir, RUN_FILES.metrics), 'r');
    } catch {
      return;
    }
    try {
      const { size } = await handle.stat();
      // A file that shrank was rewritten (a resumed run drops lines after its checkpoint): start over.
      if (size < offset) {
        offset = 0;
        event('reset', {});
      }
      if (size === offset) return;
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      const text = buffer.toString('utf8');
      const complete = text.lastIndexOf('\n') + 1;
      if (complete === 0) return;
      const points = parseMetrics(text.slice(0, complete));
      offset += Buffer.byteLength(text.slice(0, complete));
      if (points.length > 0) event('metrics', points);
    } finally {
      await handle.close();
    }
  }

  async function poll(): Promise<void> {
    if (busy || ended) return;
    busy = true;
    try {
      const status = await readRunStatus(name, dir);
      const state = JSON.stringify([status.state, status.error]);
      if (status.state !== 'error') await readNew();
      if (state !== lastState) {
        lastState = state;
        event('state', { state: status.state, error: status.error, summary: status.summary, config: status.config });
      }
    } catch (error) {
      event('state', { state: 'error', error: (error as Error).message });
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(() => void poll(), pollMs);
  void poll();
  const stop = () => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    res.end();
    onEnd(stop);
  };
  req.on('close', stop);
  return stop;
}
