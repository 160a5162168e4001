/**
 * Test-time adaptation as the original eval.py does it: from the meta-parameters, with a fresh
 * optimizer, `evalIters` steps on minibatches of `evalBatch` drawn from the support set
 * (shuffled, consecutive, reshuffled when exhausted). The meta-parameters are never changed.
 * A minibatch is at most the whole support set (evalBatch 0: always the whole support set):
 * a larger one would hold an example twice, and the original's minibatches of 10 from a
 * 5-example support set were the support set twice over.
 */
import { disposeParams, paramsFromHost, paramsToHostSync, type ParamSet } from '../core/params.js';
import { fusedInnerLoopFor } from '../algorithms/fused-inner-loop.js';
import type { FusedLoop, FusedState } from '../kernels/fused-loop.js';
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
 * sees the parameters after 0, 1, ..., evalIters steps (only after the steps in `observe`, when
 * given; the parameters it sees are valid during the call only).
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
  observe?: readonly number[],
): ParamSet {
  const batches = minibatchIndices(support.count, adaptationBatchSize(options.evalBatch, support.count), options.evalIters, rng);
  const watched = (step: number) => onStep && (!observe || observe.includes(step));
  const fused = options.evalIters === 0 ? undefined : fusedInnerLoopFor(model, loss, options.optimizer, layout);
  if (fused) return adaptFusedInSegments(fused, metaParams, support, batches, watched, onStep);
  let params = metaParams;
  let state = options.optimizer.init(metaParams);
  if (watched(0)) onStep!(0, params);
  for (let step = 0; step < options.evalIters; step++) {
    const batch = toBatch(layout, support, batches[step]);
    const next = trainStep(model, loss, options.optimizer, params, state, batch);
    disposeBatch(batch);
    next.loss.dispose();
    if (params !== metaParams) disposeParams(params);
    disposeOptimizerState(state);
    params = next.params;
    state = next.state;
    if (watched(step + 1)) onStep!(step + 1, params);
  }
  disposeOptimizerState(state);
  return params;
}

/** The fused loop, in one call per stretch of steps between the steps `onStep` watches. */
function adaptFusedInSegments(
  fused: FusedLoop,
  metaParams: ParamSet,
  support: Examples,
  batches: readonly number[][],
  watched: (step: number) => boolean | undefined,
  onStep?: (step: number, params: ParamSet) => void,
): ParamSet {
  if (watched(0)) onStep!(0, metaParams);
  let theta = paramsToHostSync(metaParams);
  let state: FusedState | undefined;
  let done = 0;
  for (let step = 1; step <= batches.length; step++) {
    if (step < batches.length && !watched(step)) continue;
    const r = fused.adapt(theta, state, { ...support, batches: batches.slice(done, step) });
    [theta, state, done] = [r.phi, r.state, step];
    if (step === batches.length) break;
    const params = paramsFromHost(theta);
    onStep!(step, params);
    disposeParams(params);
  }
  const adapted = paramsFromHost(theta);
  if (watched(batches.length)) onStep!(batches.length, adapted);
  return adapted;
}
