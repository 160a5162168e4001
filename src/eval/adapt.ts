/**
 * Test-time adaptation as the original eval.py does it: from the meta-parameters, with a fresh
 * optimizer, `evalIters` steps on minibatches of `evalBatch` drawn from the support set
 * (shuffled, consecutive, reshuffled when exhausted). The meta-parameters are never changed.
 * A minibatch is at most the whole support set (evalBatch 0: always the whole support set):
 * a larger one would hold an example twice, and the original's minibatches of 10 from a
 * 5-example support set were the support set twice over.
 */
import { disposeParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeOptimizerState, type Optimizer } from '../nn/optimizers.js';
import { disposeBatch, toBatch, trainStep } from '../algorithms/inner-loop.js';
import { minibatchIndices, type Examples, type ExampleLayoutSource } from '../tasks/task.js';

export interface AdaptationOptions {
  evalIters: number;
  /** Examples per step (0: the whole support set). */
  evalBatch: number;
  /** A fresh state of this optimizer is used for every task. */
  optimizer: Optimizer;
}

/** Examples per adaptation step on a support set of `supportCount` examples. */
export function adaptationBatchSize(evalBatch: number, supportCount: number): number {
  return evalBatch === 0 ? supportCount : Math.min(evalBatch, supportCount);
}

/**
 * Returns the adapted parameters: new tensors the caller disposes, except when evalIters is 0,
 * where `metaParams` itself comes back (check identity before disposing). `onStep(step, params)`
 * sees the parameters after 0, 1, ..., evalIters steps.
 */
export function adaptToSupport(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource,
  metaParams: ParamSet,
  support: Examples,
  options: AdaptationOptions,
  rng: Rng,
  onStep?: (step: number, params: ParamSet) => void,
): ParamSet {
  let params = metaParams;
  let state = options.optimizer.init(metaParams);
  const batches = minibatchIndices(support.count, adaptationBatchSize(options.evalBatch, support.count), options.evalIters, rng);
  onStep?.(0, params);
  for (let step = 0; step < options.evalIters; step++) {
    const batch = toBatch(layout, support, batches[step]);
    const next = trainStep(model, loss, options.optimizer, params, state, batch);
    disposeBatch(batch);
    next.loss.dispose();
    if (params !== metaParams) disposeParams(params);
    disposeOptimizerState(state);
    params = next.params;
    state = next.state;
    onStep?.(step + 1, params);
  }
  disposeOptimizerState(state);
  return params;
}
