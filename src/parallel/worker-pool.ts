/**
 * A pool of worker threads that adapt meta-parameters to the tasks of a meta-batch in parallel
 * (`reptile train --workers N`). Node only (worker_threads).
 *
 * Tasks go to workers in contiguous chunks and results come back in task order, so the caller's
 * arithmetic on them does not depend on the number of workers. Task examples are transferred to
 * the worker, not copied; the data set itself never leaves the main thread (only the examples
 * of the sampled tasks do). A worker that fails or exits rejects the pending request with an
 * error naming it, and the pool refuses further work (no hang).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { HostParams } from '../core/params.js';
import type { AdaptJob, AdaptRecipe, AdaptResultHost, FromWorker, HostOptimizerState, ToWorker } from './protocol.js';

const WORKER_URL = new URL('./adapt-worker.js', import.meta.url);

/** The default pool size: one worker per core. */
export function defaultWorkerCount(): number {
  return availableParallelism();
}

interface Pending {
  resolve(results: AdaptResultHost[]): void;
  reject(error: Error): void;
}

class PoolWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private broken: Error | undefined;
  private ready: Promise<string>;

  constructor(readonly index: number, recipe: AdaptRecipe) {
    const worker = new Worker(WORKER_URL);
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready') resolve(message.backend);
        else if (message.type === 'failed' && message.id === undefined) reject(this.fail(`failed to start: ${message.message}`));
        else this.settle(message);
      };
      worker.on('message', onMessage);
      worker.on('error', (error) => reject(this.fail(`crashed: ${error.message}`)));
      worker.on('exit', (code) => reject(this.fail(`exited with code ${code}`)));
    });
    this.ready.catch(() => {}); // reported through whichever request is waiting
    this.post({ type: 'init', recipe });
  }

  readonly worker: Worker;

  started(): Promise<string> {
    return this.ready;
  }

  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /** Marks the worker broken and rejects everything waiting on it. */
  private fail(reason: string): Error {
    if (!this.broken) {
      this.broken = new Error(`adaptation worker ${this.index} ${reason}`);
      for (const p of this.pending.values()) p.reject(this.broken);
      this.pending.clear();
    }
    return this.broken;
  }

  private settle(message: FromWorker): void {
    if (message.type === 'ready' || message.id === undefined) return;
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    if (message.type === 'adapted') p.resolve(message.results);
    else p.reject(new Error(`adaptation worker ${this.index} failed: ${message.message}`));
  }

  async adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: AdaptJob[]): Promise<AdaptResultHost[]> {
    await this.ready;
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    const transfer = jobs.flatMap((j) => [j.x, j.y].filter(ownsWholeBuffer).map((a) => a.buffer as ArrayBuffer));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: 'adapt', id, theta, state, jobs }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.broken ??= new Error(`adaptation worker ${this.index} was shut down`);
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** Transferring a view detaches its whole buffer: only transfer arrays that are their buffer. */
function ownsWholeBuffer(a: Float32Array | Int32Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer);
}

export class AdaptPool {
  private constructor(private readonly workers: PoolWorker[], readonly backend: string) {}

  /** Starts `size` workers and waits until each has built its model on `recipe.backend`. */
  static async start(size: number, recipe: AdaptRecipe): Promise<AdaptPool> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker count must be an integer >= 1, got ${size}`);
    // Only the plain data of the recipe crosses (the layout may be a whole task distribution).
    const { inputShape, targetShape, kind } = recipe.layout;
    const plain: AdaptRecipe = { ...recipe, layout: { inputShape: [...inputShape], targetShape: [...targetShape], kind } };
    const workers = Array.from({ length: size }, (_, i) => new PoolWorker(i, plain));
    try {
      const backends = await Promise.all(workers.map((w) => w.started()));
      return new AdaptPool(workers, backends[0]);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Adapts `theta` to every job, each from optimizer state `state` (a fresh state when
   * undefined). Results are in job order whatever the pool size.
   */
  async adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: readonly AdaptJob[]): Promise<AdaptResultHost[]> {
    const n = Math.min(this.workers.length, jobs.length);
    const chunks = Array.from({ length: n }, (_, w) => jobs.slice(Math.floor((w * jobs.length) / n), Math.floor(((w + 1) * jobs.length) / n)));
    const results = await Promise.all(chunks.map((chunk, w) => this.workers[w].adapt(theta, state, chunk)));
    return results.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** For tests: the underlying worker threads. */
  get threads(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }
}
