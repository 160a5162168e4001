/**
 * The tfjs ops of an inner step: examples to tensors, a minibatch's loss and gradients, and one
 * optimizer step. The tfjs inner loop (tfjs-loop.ts), MAML's differentiable loop and the
 * baselines build on them. Losses stay on the device (no host sync per step).
 */
import { tf, tidy } from '../core/tf.js';
import { paramNames, paramsFromList, paramsToList, type ParamSet } from '../core/params.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import type { Examples, ExampleLayoutSource as ExampleLayout } from '../tasks/task.js';

export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}


const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Tensors for the listed examples (all of them when `indices` is omitted). */
export function toBatch(layout: ExampleLayout, examples: Examples, indices?: readonly number[]): Batch {
  const inSize = product(layout.inputShape);
  const outSize = product(layout.targetShape);
  const take = indices ?? Array.from({ length: examples.count }, (_, i) => i);
  const x = new Float32Array(take.length * inSize);
  const y = layout.kind === 'classification' ? new Int32Array(take.length * outSize) : new Float32Array(take.length * outSize);
  take.forEach((idx, i) => {
    x.set(examples.x.subarray(idx * inSize, (idx + 1) * inSize), i * inSize);
    y.set(examples.y.subarray(idx * outSize, (idx + 1) * outSize), i * outSize);
  });
  return {
    x: tf.tensor(x, [take.length, ...layout.inputShape], 'float32'),
    y: tf.tensor(y, [take.length, ...layout.targetShape], layout.kind === 'classification' ? 'int32' : 'float32'),
  };
}

export function disposeBatch(batch: Batch): void {
  batch.x.dispose();
  batch.y.dispose();
}

/** The loss of `params` on a batch (forward pass only). */
export function batchLoss(model: Model, loss: LossFn, params: ParamSet, batch: Batch): tf.Scalar {
  return tf.tidy(() => loss(model.apply(params, batch.x, { training: true }), batch.y));
}

/** Gradient of the batch loss with respect to every parameter, and the loss itself. */
export function lossAndGradients(model: Model, loss: LossFn, params: ParamSet, batch: Batch): { loss: tf.Scalar; grads: ParamSet } {
  return tidy(() => {
    const names = paramNames(params);
    const f = (...list: tf.Tensor[]) => loss(model.apply(paramsFromList(names, list), batch.x, { training: true }), batch.y);
    const { value, grads } = tf.valueAndGrads(f)(paramsToList(params));
    return { loss: value as tf.Scalar, grads: paramsFromList(names, grads) };
  });
}

export interface StepResult {
  params: ParamSet;
  state: OptimizerState;
  loss: tf.Scalar;
}

/** One optimizer step on one batch. Inputs are left alone; the result is new tensors. */
export function trainStep(model: Model, loss: LossFn, optimizer: Optimizer, params: ParamSet, state: OptimizerState, batch: Batch): StepResult {
  return tidy(() => {
    const { loss: value, grads } = lossAndGradients(model, loss, params, batch);
    const next = optimizer.step(params, grads, state);
    return { params: next.params, state: next.state, loss: value };
  });
}
