/**
 * The inner-loop contract (core/inner-loop.ts) on a pool of threads that adapt the tasks of a
 * meta-batch in parallel (`reptile train --workers N`): the main thread and N - 1 worker threads
 * (the main thread would otherwise sit idle, and each worker thread costs a TensorFlow.js
 * instance, ~50 MB). Node only.
 *
 * Tasks go to threads in contiguous chunks and come back in task order; every thread runs the
 * inner loop the factory chooses for the same recipe on the same backend, and the reduction
 * (the mean of the adapted parameters and of the end states) is summed in task order, so results
 * do not depend on N: parameters and states are bitwise those of one thread (the loss sum, a
 * diagnostic summed per thread, to rounding). Task examples are transferred to the
 * worker, not copied; the data set itself never leaves the main thread (only the examples of the
 * sampled tasks do). A worker that fails or exits rejects the pending request with an error
 * naming it, and the pool refuses further work (no hang).
 *
 * At evaluation the same pool is a TaskScorer (eval/classification.ts): each thread adapts its
 * chunk of evaluation tasks and predicts their queries, and only the correct counts come back
 * (an adapted CNN is ~450 KB; its counts are a few numbers).
 */
import { fastHostMean } from '../kernels/host-arithmetic.js';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { tf } from '../core/tf.js';
import type { HostParams } from '../core/params.js';
import type { HostOptimizerState } from '../core/optimizer-state.js';
import type { ParamStore, StateStore } from '../core/param-store.js';
import { hostTasksResult, type AdaptJob, type AdaptTasksOptions, type AdaptTasksResult, type InnerLoop } from '../core/inner-loop.js';
import { selectInnerLoop, type InnerLoopSetup, type KernelChoice } from '../algorithms/select-inner-loop.js';
import { lossSpec } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import { scoreInOrder, type ScoreJob, type ScoringSetup, type TaskScorer } from '../eval/classification.js';
import { recipeSetup, runChunk } from './task-runner.js';
import type { AdaptRecipe, ChunkResult, FromWorker, SplittableMode, ToWorker } from './protocol.js';

const WORKER_URL = new URL('./adapt-worker.js', import.meta.url);

/** The default pool size: one worker per core. */
export function defaultWorkerCount(): number {
  return availableParallelism();
}

/** A request's answer: a meta-batch chunk's adapted parameters, or an evaluation chunk's correct counts. */
type Answer = ChunkResult | number[];

interface Pending {
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

/** One worker thread with its recipe (also the threads of a broker worker process, src/distributed/). */
export class PoolWorker {
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
    this.post({ type: 'init', recipe, index });
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
    if (message.type === 'adapted') p.resolve(message.result);
    else if (message.type === 'scored') p.resolve(message.correct);
    else p.reject(new Error(`adaptation worker ${this.index} failed: ${message.message}`));
  }

  adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: AdaptJob[], mode: SplittableMode): Promise<ChunkResult> {
    const transfer = jobs.flatMap((j) => [j.x, j.y]);
    return this.request((id) => ({ type: 'adapt', id, theta, state, jobs, mode }), transfer) as Promise<ChunkResult>;
  }

  score(theta: HostParams, jobs: ScoreJob[], transductive: boolean): Promise<number[]> {
    const transfer = jobs.flatMap((j) => [j.support.x, j.support.y, j.query.x, j.query.y]);
    return this.request((id) => ({ type: 'score', id, theta, jobs, transductive }), transfer) as Promise<number[]>;
  }

  /** Posts at once (messages are handled in order, so after init); settles when the worker answers. */
  private request(message: (id: number) => ToWorker, arrays: (Float32Array | Int32Array)[]): Promise<Answer> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    const transfer = arrays.filter(ownsWholeBuffer).map((a) => a.buffer as ArrayBuffer);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post(message(id), transfer);
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

export class AdaptPool implements InnerLoop, TaskScorer {
  readonly threadsHelp = true;

  private constructor(private readonly local: ScoringSetup, private readonly workers: PoolWorker[], readonly backend: string) {}

  /** The inner loop each thread runs (config.json's innerLoopUsed). */
  get name(): InnerLoop['name'] {
    return this.local.loop.name;
  }

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
    const local = recipeSetup(plain);
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
   * The contract, split across the threads ('chain' cannot be split: the main thread runs it).
   * Results are in job order; parameters and states bitwise the same whatever the pool size.
   */
  async adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], options: AdaptTasksOptions): Promise<AdaptTasksResult> {
    const { mode } = options;
    if (mode === 'chain') return this.local.loop.adaptTasks(theta, state, jobs, options);
    const start = mode === 'common' ? state?.host : undefined;
    const parts = await this.split(jobs, (worker, chunk) => worker.adapt(theta.host, start, chunk, mode), (chunk) => runChunk(this.local.loop, theta.host, start, chunk, mode));
    const lossSum = parts.reduce((sum, p) => sum + p.lossSum, 0);
    return hostTasksResult(parts.flatMap((p) => p.phis), parts.flatMap((p) => p.states ?? []), options, lossSum, fastHostMean);
  }

  /**
   * Evaluation (TaskScorer): each task adapted and its queries predicted in one of the threads,
   * the correct counts in task order, bitwise those of this thread alone (localScorer).
   */
  async scoreTasks(theta: ParamStore, jobs: readonly ScoreJob[], transductive: boolean): Promise<number[]> {
    const parts = await this.split(jobs, (worker, chunk) => worker.score(theta.host, chunk, transductive), (chunk) => scoreInOrder(this.local, theta, chunk, transductive));
    return parts.flat();
  }

  /**
   * Contiguous chunks of `jobs`, one per thread, each thread's answers in chunk order. The last
   * chunk (never smaller than the others) is the main thread's: it pays no message passing, so
   * it can take the extra task. It runs after the others are posted so that all run at once.
   */
  private async split<J, R>(jobs: readonly J[], remote: (worker: PoolWorker, chunk: J[]) => Promise<R>, local: (chunk: J[]) => Promise<R>): Promise<R[]> {
    const n = Math.min(this.size, jobs.length);
    const chunks = Array.from({ length: n }, (_, w) => jobs.slice(Math.floor((w * jobs.length) / n), Math.floor(((w + 1) * jobs.length) / n)));
    const others = chunks.slice(0, n - 1).map((chunk, w) => remote(this.workers[w], chunk));
    const settled = await Promise.allSettled([...others, local(chunks[n - 1])]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** For tests: the worker threads (thread k + 1 of the pool is `threads[k]`). */
  get threads(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }
}

export interface ThreadedInnerLoop {
  loop: InnerLoop;
  /** Threads adapting tasks (1: this thread, no pool). */
  threads: number;
  close(): Promise<void>;
}

/**
 * The inner loop for `workers` threads: a pool where the chosen loop gains from threads (a fused
 * MLP kernel runs a meta-batch faster in this thread than the pool's messages and copies allow),
 * else this thread's loop. Either way the caller's 'common' mode gives the pool's numbers.
 */
export async function innerLoopOnThreads(
  setup: InnerLoopSetup,
  optimizer: Optimizer,
  { workers, backend, kernels, throwForTest }: { workers: number; backend: AdaptRecipe['backend']; kernels?: KernelChoice; throwForTest?: AdaptRecipe['throwForTest'] },
): Promise<ThreadedInnerLoop> {
  const local = selectInnerLoop(setup, optimizer, { kernels });
  if (workers < 2 || !local.threadsHelp) return { loop: local, threads: 1, close: async () => {} };
  const recipe = adaptRecipe(setup, optimizer, { backend, kernels }, `--workers ${workers}`);
  const pool = await AdaptPool.start(workers, { ...recipe, ...(throwForTest ? { throwForTest } : {}) });
  return { loop: pool, threads: pool.size, close: () => pool.close() };
}

/**
 * The recipe from which another thread (or process) rebuilds this setting's inner loop: plain
 * data only (the layout may be a whole task distribution). `what` names the caller in the error
 * for a loss that cannot be rebuilt.
 */
export function adaptRecipe(setup: InnerLoopSetup, optimizer: Optimizer, { backend, kernels }: { backend: AdaptRecipe['backend']; kernels?: KernelChoice }, what: string): AdaptRecipe {
  const loss = lossSpec(setup.loss);
  if (!loss) throw new Error(`${what}: the loss cannot be rebuilt in a worker thread; use --workers 0`);
  const model = setup.model.spec;
  if (!model) throw new Error(`${what}: other threads rebuild the model from its spec, and this model has none (a hand-written functional model); use --workers 0 or 1`);
  const { inputShape, targetShape, kind } = setup.layout;
  return { backend, model, loss, optimizer: { name: optimizer.name, config: optimizer.config }, layout: { inputShape: [...inputShape], targetShape: [...targetShape], kind }, ...(kernels !== undefined ? { kernels } : {}) };
}
