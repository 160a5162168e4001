/**
 * The inner-loop contract: every place that adapts parameters to tasks (Reptile, FOMAML, joint
 * training, evaluation, the demo page, the worker pool's threads) calls `adaptTasks` on an
 * InnerLoop, and a factory (src/algorithms/select-inner-loop.ts) picks the implementation: tfjs
 * ops, stacked tfjs copies, a fused kernel (src/kernels/), the worker pool (src/parallel/), or
 * worker processes reached through Redis (src/distributed/, `--broker`).
 * MAML's differentiable loop is the one exception: it must record a gradient tape.
 *
 * A new kernel or execution engine is one more implementation of this interface, and one more
 * case in the factory.
 */
import type { HostParams } from './params.js';
import type { HostOptimizerState } from './optimizer-state.js';
import { hostMean, hostMeanState } from './host-params.js';
import { ParamStore, StateStore } from './param-store.js';

/** One task to adapt to: its examples and the example indices of each inner step's minibatch. */
export interface AdaptJob {
  count: number;
  /** Inputs, [count, ...inputShape] flattened. */
  x: Float32Array;
  /** Regression targets (float) or class labels (int), [count, ...targetShape] flattened. */
  y: Float32Array | Int32Array;
  batches: readonly (readonly number[])[];
}

/**
 * Where each task's inner optimizer state starts, and which state comes back:
 * - 'chain': task i + 1 starts from task i's end state, the first from `state` (a fresh one when
 *   undefined); the last task's end state comes back (the original code's serial loop);
 * - 'common': every task starts from `state` (fresh when undefined); the element-wise mean of the
 *   end states comes back, with the last task's step count (what threads adapting tasks in
 *   parallel compute);
 * - 'fresh': every task starts from a fresh state; no state comes back.
 */
export type InnerStateMode = 'chain' | 'common' | 'fresh';

export interface AdaptTasksOptions {
  mode: InnerStateMode;
  /** 'mean' (default): the element-wise mean of the adapted parameters; 'each': every task's. */
  keep?: 'mean' | 'each';
}

export interface AdaptTasksResult {
  /** keep 'mean': the mean of the adapted parameters, summed in task order then divided. */
  mean?: ParamStore;
  /** keep 'each': each task's adapted parameters, in task order. */
  each?: ParamStore[];
  /** keep 'each' in mode 'common': each task's end state, in task order (what the pool reduces). */
  eachState?: StateStore[];
  /** The end state by the mode's rule (undefined for 'fresh'). */
  state: StateStore | undefined;
  /** The sum over tasks and steps of the minibatch losses. */
  lossSum: number;
}

/** Which implementation adapts: recorded in config.json as `innerLoopUsed`. */
export type InnerLoopName = 'tfjs' | 'tfjs-stacked' | 'fused-mlp' | 'fused-cnn-native' | 'fused-cnn-wasm';

/** The fused kernels a caller may allow the factory to choose. */
export const FUSED_KERNELS = ['fused-mlp', 'fused-cnn-native', 'fused-cnn-wasm'] as const;
export type FusedKernelName = (typeof FUSED_KERNELS)[number];

export interface InnerLoop {
  readonly name: InnerLoopName;
  /**
   * Whether a meta-batch's tasks run faster on several threads than one after another in one
   * thread (measured: docs/performance.md); the worker pool is started only where they do.
   */
  readonly threadsHelp: boolean;
  /**
   * Adapts `theta` to every job with the inner optimizer, the state following `options.mode`.
   * Inputs are not changed (the stores may cache their other form); the result's stores are the
   * caller's to dispose.
   */
  adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], options: AdaptTasksOptions): Promise<AdaptTasksResult>;
  /**
   * Logits [count, outputs] of `count` examples in one batch with `params` (batch norm on the
   * batch's own statistics), where the implementation has a faster forward pass than tfjs ops.
   */
  predict?(params: HostParams, x: Float32Array, count: number): Float32Array;
}

/**
 * The result from each task's adapted parameters and end state on the host, reduced in task
 * order (the mean summed, then divided; the end state by the mode's rule): what the host
 * implementations (stacked copies, the pool, a kernel's task-by-task path) return. `mean` may be
 * a faster one with hostMean's bits (src/kernels/host-arithmetic.ts).
 */
export function hostTasksResult(phis: HostParams[], ends: HostOptimizerState[], { mode, keep = 'mean' }: AdaptTasksOptions, lossSum: number, mean = hostMean): AdaptTasksResult {
  const state = mode === 'fresh' ? undefined : StateStore.ofHost(mode === 'chain' ? ends.at(-1)! : hostMeanState(ends, mean));
  if (keep === 'mean') return { mean: ParamStore.ofHost(mean(phis)), state, lossSum };
  return { each: phis.map((p) => ParamStore.ofHost(p)), eachState: mode === 'common' ? ends.map((s) => StateStore.ofHost(s)) : undefined, state, lossSum };
}
