/**
 * Messages between the main thread and the adaptation workers (worker-pool.ts, adapt-worker.ts).
 * Everything here survives structured cloning: typed arrays, plain objects, numbers, strings.
 */
import type { HostParams } from '../core/params.js';
import type { HostOptimizerState } from '../core/optimizer-state.js';
import type { AdaptJob } from '../core/inner-loop.js';
import type { ModelSpec } from '../nn/model.js';
import type { LossSpec } from '../nn/losses.js';
import type { ExampleLayoutSource } from '../tasks/task.js';
import type { KernelChoice } from '../algorithms/select-inner-loop.js';
import type { ScoreJob } from '../eval/classification.js';

/** What a thread needs to choose and run the inner loop the way the main thread would. */
export interface AdaptRecipe {
  backend: 'wasm' | 'cpu' | 'node';
  model: ModelSpec;
  loss: LossSpec;
  optimizer: { name: string; config: Readonly<Record<string, number | string | boolean>> };
  layout: Pick<ExampleLayoutSource, 'inputShape' | 'targetShape' | 'kind'>;
  /** The fused kernels the inner-loop factory may choose (default: all). */
  kernels?: KernelChoice;
  /**
   * For tests of a failing thread: worker thread `worker` throws in its `request`-th adapt request
   * (after adapting, before answering). The command line sets it from REPTILE_TEST_WORKER_THROW.
   */
  throwForTest?: { worker: number; request: number };
}

/** Modes whose tasks can be split across threads: every task starts from the same state. */
export type SplittableMode = 'common' | 'fresh';

/** A chunk of tasks adapted by one thread: each task's parameters and end state, in order. */
export interface ChunkResult {
  phis: HostParams[];
  /** Mode 'common' only. */
  states?: HostOptimizerState[];
  lossSum: number;
}

export type ToWorker =
  | { type: 'init'; recipe: AdaptRecipe; index: number }
  | { type: 'adapt'; id: number; theta: HostParams; state?: HostOptimizerState; jobs: AdaptJob[]; mode: SplittableMode }
  /** Evaluation: adapt to each task (a fresh state each), then count its queries predicted right. */
  | { type: 'score'; id: number; theta: HostParams; jobs: ScoreJob[]; transductive: boolean };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'adapted'; id: number; result: ChunkResult }
  | { type: 'scored'; id: number; correct: number[] }
  | { type: 'failed'; id?: number; message: string };
