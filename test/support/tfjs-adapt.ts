/**
 * An independent reference inner loop for tests: one tfjs optimizer step per batch, written out
 * here (not the library's inner-loop implementations) so that tests compare the library against
 * a computation it does not share. The inputs stay valid; the result is new tensors.
 */
import { tf } from '../../src/core/tf.js';
import { cloneParams, disposeParams, type ParamSet } from '../../src/core/params.js';
import { cloneOptimizerState, disposeOptimizerState, type OptimizerState } from '../../src/core/optimizer-state.js';
import type { Model } from '../../src/nn/model.js';
import type { LossFn } from '../../src/nn/losses.js';
import type { Optimizer } from '../../src/nn/optimizers.js';
import { trainStep, type Batch } from '../../src/algorithms/inner-loop.js';

export interface AdaptResult {
  params: ParamSet;
  state: OptimizerState;
  /** Sum of the minibatch losses over the steps taken. */
  lossSum: tf.Scalar;
}

export function adapt(model: Model, loss: LossFn, optimizer: Optimizer, params: ParamSet, state: OptimizerState, batches: readonly Batch[]): AdaptResult {
  let current = { params, state };
  let lossSum: tf.Scalar = tf.scalar(0);
  for (const batch of batches) {
    const step = trainStep(model, loss, optimizer, current.params, current.state, batch);
    if (current.params !== params) {
      disposeParams(current.params);
      disposeOptimizerState(current.state);
    }
    const total = tf.add(lossSum, step.loss) as tf.Scalar;
    lossSum.dispose();
    step.loss.dispose();
    lossSum = total;
    current = { params: step.params, state: step.state };
  }
  if (current.params === params) current = { params: cloneParams(params), state: cloneOptimizerState(state) };
  return { params: current.params, state: current.state, lossSum };
}
