/**
 * Messages between the main thread and the adaptation workers (worker-pool.ts, adapt-worker.ts).
 * Everything here survives structured cloning: typed arrays, plain objects, numbers, strings.
 */
import type { HostParams } from '../core/params.js';
import type { ModelSpec } from '../nn/model.js';
import type { LossSpec } from '../nn/losses.js';
import type { ExampleLayoutSource } from '../tasks/task.js';

/** What a worker needs to run the inner loop the way the main thread would. */
export interface AdaptRecipe {
  backend: 'wasm' | 'cpu' | 'node';
  model: ModelSpec;
  loss: LossSpec;
  optimizer: { name: string; config: Readonly<Record<string, number | string | boolean>> };
  layout: Pick<ExampleLayoutSource, 'inputShape' | 'targetShape' | 'kind'>;
  /** false: never the fused MLP inner loop, always the tfjs one (default: fused where it applies). */
  fusedInnerLoop?: boolean;
}

/** An optimizer state on the host: the step count and each slot's values per parameter. */
export interface HostOptimizerState {
  step: number;
  slots: Record<string, HostParams>;
}

/** One task to adapt to: its examples and the minibatches (example indices) of each inner step. */
export interface AdaptJob {
  count: number;
  x: Float32Array;
  y: Float32Array | Int32Array;
  batches: number[][];
}

export interface AdaptResultHost {
  phi: HostParams;
  state: HostOptimizerState;
}

/** The adapted tasks, in order, and the sum of all their inner minibatch losses. */
export interface AdaptBatchResult {
  results: AdaptResultHost[];
  lossSum: number;
}

export type ToWorker =
  | { type: 'init'; recipe: AdaptRecipe }
  | { type: 'adapt'; id: number; theta: HostParams; state?: HostOptimizerState; jobs: AdaptJob[] };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'adapted'; id: number; results: AdaptResultHost[]; lossSum: number }
  | { type: 'failed'; id?: number; message: string };
