/**
 * Test-time adaptation as the original eval.py does it: from the meta-parameters, with a fresh
 * optimizer, `evalIters` steps on minibatches of `evalBatch` drawn from the support set
 * (shuffled, consecutive, reshuffled when exhausted). The meta-parameters are never changed.
 * A minibatch is at most the whole support set (evalBatch 0: always the whole support set):
 * a larger one would hold an example twice, and the original's minibatches of 10 from a
 * 5-example support set were the support set twice over.
 *
 * The steps run through the inner-loop contract (core/inner-loop.ts), in one call per stretch of
 * steps between the steps an observer watches.
 */
import type { ParamSet } from '../core/params.js';
import { ParamStore, type StateStore } from '../core/param-store.js';
import type { InnerLoop } from '../core/inner-loop.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import { selectInnerLoop, type KernelChoice } from '../algorithms/select-inner-loop.js';
import { minibatchIndices, type Examples, type ExampleLayoutSource } from '../tasks/task.js';

export interface AdaptationOptions {
  evalIters: number;
  /** Examples per step (0: the whole support set). */
  evalBatch: number;
  /** A fresh state of this optimizer is used for every task. */
  optimizer: Optimizer;
  /** The fused kernels the inner-loop factory may choose (default: all). */
  kernels?: KernelChoice;
}

/** Examples per adaptation step on a support set of `supportCount` examples. */
export function adaptationBatchSize(evalBatch: number, supportCount: number): number {
  return evalBatch === 0 ? supportCount : Math.min(evalBatch, supportCount);
}

/** The inner loop that adapts this model at test time. */
export function adaptationLoop(model: Model, loss: LossFn, layout: ExampleLayoutSource, options: AdaptationOptions): InnerLoop {
  return selectInnerLoop({ model, loss, layout }, options.optimizer, { kernels: options.kernels });
}

/** The adaptation's minibatches of a support set (the random draws adaptToSupport makes). */
export function adaptationBatches(support: Examples, options: Pick<AdaptationOptions, 'evalBatch' | 'evalIters'>, rng: Rng): number[][] {
  return minibatchIndices(support.count, adaptationBatchSize(options.evalBatch, support.count), options.evalIters, rng);
}

/**
 * Returns the adapted parameters in a store the caller disposes (with evalIters 0, a view of
 * `metaParams` whose disposal leaves them alone). `onStep(step, params)` sees the parameters
 * after 0, 1, ..., evalIters steps (only after the steps in `observe`, when given; the
 * parameters it sees are valid during the call only).
 */
export async function adaptToSupport(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource,
  metaParams: ParamSet,
  support: Examples,
  options: AdaptationOptions,
  rng: Rng,
  onStep?: (step: number, params: ParamSet) => void,
  observe?: readonly number[],
): Promise<ParamStore> {
  const batches = adaptationBatches(support, options, rng);
  const theta = ParamStore.view(metaParams);
  const loop = options.evalIters === 0 ? undefined : adaptationLoop(model, loss, layout, options);
  const adapted = await adaptOnBatches(loop, theta, support, batches, onStep, observe);
  if (adapted !== theta) theta.dispose();
  return adapted;
}

/**
 * adaptToSupport's steps on minibatches drawn already, from `theta` (left to the caller: the
 * result is `theta` itself when there are no steps, else a new store). `loop` may be undefined
 * only when there are no steps.
 */
export async function adaptOnBatches(
  loop: InnerLoop | undefined,
  theta: ParamStore,
  support: Examples,
  batches: readonly (readonly number[])[],
  onStep?: (step: number, params: ParamSet) => void,
  observe?: readonly number[],
): Promise<ParamStore> {
  const watched = (step: number) => onStep !== undefined && (!observe || observe.includes(step));
  if (watched(0)) onStep!(0, theta.device);
  let params = theta;
  if (batches.length === 0) return params;
  let state: StateStore | undefined;
  let done = 0;
  for (let step = 1; step <= batches.length; step++) {
    if (step < batches.length && !watched(step)) continue;
    // 'chain' from no state: a fresh optimizer, then on from where the last stretch ended.
    const r = await loop!.adaptTasks(params, state, [{ ...support, batches: batches.slice(done, step) }], { mode: 'chain' });
    if (params !== theta) params.dispose();
    state?.dispose();
    [params, state, done] = [r.mean!, r.state, step];
    if (watched(step)) onStep!(step, params.device);
  }
  state?.dispose();
  return params;
}
