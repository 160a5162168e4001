/**
 * A pool of threads that adapt meta-parameters to the tasks of a meta-batch in parallel
 * (`reptile train --workers N`): the main thread and N - 1 worker threads (the main thread would
 * otherwise sit idle, and each worker thread costs a TensorFlow.js instance, ~50 MB). Node only.
 *
 * Tasks go to threads in contiguous chunks and results come back in task order, and every thread
 * runs the same code (task-runner.ts) on the same backend, so results do not depend on N. Task examples are transferred to
 * the worker, not copied; the data set itself never leaves the main thread (only the examples
 * of the sampled tasks do). A worker that fails or exits rejects the pending request with an
 * error naming it, and the pool refuses further work (no hang).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { tf } from '../core/tf.js';
import type { HostParams } from '../core/params.js';
import { createTaskRunner, type TaskRunner } from './task-runner.js';
import type { AdaptBatchResult, AdaptJob, AdaptRecipe, FromWorker, HostOptimizerState, ToWorker } from './protocol.js';

const WORKER_URL = new URL('./adapt-worker.js', import.meta.url);

/** The default pool size: one worker per core. */
export function defaultWorkerCount(): number {
  return availableParallelism();
}

interface Pending {
  resolve(result: AdaptBatchResult): void;
  reject(error: Error): void;
}

class PoolWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private broken: Error | undefined;
  private ready: Promise<string>;

  constructor(readonly index: number, recipe: AdaptRecipe) {
    // A small young generation: the worker's garbage is short-lived tensors' wrappers and
    // messages, and V8's default (up to 48 MB per thread) showed up as ~50 MB of peak RSS.
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
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
    if (message.type === 'adapted') p.resolve({ results: message.results, lossSum: message.lossSum });
    else p.reject(new Error(`adaptation worker ${this.index} failed: ${message.message}`));
  }

  /** Posts at once (messages are handled in order, so after init); settles when the worker answers. */
  adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: AdaptJob[]): Promise<AdaptBatchResult> {
    if (this.broken) return Promise.reject(this.broken);
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
  private constructor(private readonly local: TaskRunner, private readonly workers: PoolWorker[], readonly backend: string) {}

  /**
   * Starts `size - 1` worker threads and waits until each has built its model on
   * `recipe.backend`, which must be the main thread's active backend.
   */
  static async start(size: number, recipe: AdaptRecipe): Promise<AdaptPool> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker count must be an integer >= 1, got ${size}`);
    if (tf.getBackend() !== recipe.backend) throw new Error(`the pool's backend '${recipe.backend}' is not the active backend '${tf.getBackend()}'`);
    // Only the plain data of the recipe crosses (the layout may be a whole task distribution).
    const { inputShape, targetShape, kind } = recipe.layout;
    const plain: AdaptRecipe = { ...recipe, layout: { inputShape: [...inputShape], targetShape: [...targetShape], kind } };
    const local = createTaskRunner(plain);
    const workers = Array.from({ length: size - 1 }, (_, i) => new PoolWorker(i + 1, plain));
    try {
      await Promise.all(workers.map((w) => w.started()));
      return new AdaptPool(local, workers, recipe.backend);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  /** Threads adapting tasks, the main thread included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Adapts `theta` to every job, each from optimizer state `state` (a fresh state when
   * undefined). Results are in job order whatever the pool size.
   */
  async adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: readonly AdaptJob[]): Promise<AdaptBatchResult> {
    const n = Math.min(this.size, jobs.length);
    const chunks = Array.from({ length: n }, (_, w) => jobs.slice(Math.floor((w * jobs.length) / n), Math.floor(((w + 1) * jobs.length) / n)));
    // The last chunk (never smaller than the others) is the main thread's: it pays no message
    // passing, so it can take the extra task. It runs after the others are posted so that all run at once.
    const remote = chunks.slice(0, n - 1).map((chunk, w) => this.workers[w].adapt(theta, state, chunk));
    const mine = this.local(theta, state, chunks[n - 1]);
    const results = await Promise.allSettled([...remote, mine]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const parts = results.map((r) => (r as PromiseFulfilledResult<AdaptBatchResult>).value);
    return { results: parts.flatMap((p) => p.results), lossSum: parts.reduce((sum, p) => sum + p.lossSum, 0) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** For tests: the worker threads (thread k + 1 of the pool is `threads[k]`). */
  get threads(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }
}
