/**
 * Losses (article section 4.1), each from ops whose gradients are differentiable again, so that
 * second-order MAML can differentiate through them. `reduction` 'mean' averages over the batch;
 * 'sum' adds per-example losses, which is what openai/supervised-reptile minimised.
 */
import { tf } from '../core/tf.js';
import { logSoftmax } from './ops.js';

export type Reduction = 'mean' | 'sum';
export type LossFn = (prediction: tf.Tensor, target: tf.Tensor) => tf.Scalar;

/** How to build a loss again (e.g. in a worker thread): the factories below attach it. */
export interface LossSpec {
  name: LossName;
  reduction: Reduction;
  /** Huber's threshold. */
  delta?: number;
}

function described(fn: LossFn, spec: LossSpec): LossFn {
  return Object.assign(fn, { spec });
}

/** The spec of a loss made by this module's factories (undefined for a user's own function). */
export function lossSpec(loss: LossFn): LossSpec | undefined {
  return (loss as LossFn & { spec?: LossSpec }).spec;
}

/** Builds the loss a spec describes. */
export function lossFromSpec(spec: LossSpec): LossFn {
  return spec.name === 'huber' ? huber(spec.delta ?? 1, spec.reduction) : lossByName(spec.name, spec.reduction);
}

export const LOSSES = ['mse', 'l1', 'huber', 'cross-entropy', 'binary-cross-entropy'] as const;
export type LossName = (typeof LOSSES)[number];

function reduce(perElement: tf.Tensor, reduction: Reduction): tf.Scalar {
  if (reduction === 'mean') return tf.mean(perElement);
  // Sum over examples of the per-example mean over the remaining axes.
  const perExample = perElement.rank > 1 ? tf.mean(perElement.reshape([perElement.shape[0], -1]), 1) : perElement;
  return tf.sum(perExample);
}

function checkSameShape(name: string, prediction: tf.Tensor, target: tf.Tensor): void {
  if (prediction.size !== target.size) {
    throw new Error(`${name}: prediction shape [${prediction.shape}] and target shape [${target.shape}] differ`);
  }
}

export function meanSquaredError(reduction: Reduction = 'mean'): LossFn {
  return described((prediction, target) => {
    checkSameShape('mse', prediction, target);
    return tf.tidy(() => reduce(tf.square(tf.sub(prediction, target.reshape(prediction.shape))), reduction));
  }, { name: 'mse', reduction });
}

export function l1(reduction: Reduction = 'mean'): LossFn {
  return described((prediction, target) => {
    checkSameShape('l1', prediction, target);
    return tf.tidy(() => reduce(tf.abs(tf.sub(prediction, target.reshape(prediction.shape))), reduction));
  }, { name: 'l1', reduction });
}

/** Quadratic within `delta` of the target, linear beyond (continuous first derivative). */
export function huber(delta = 1, reduction: Reduction = 'mean'): LossFn {
  if (!(delta > 0)) throw new RangeError(`huber delta must be > 0, got ${delta}`);
  return described((prediction, target) => {
    checkSameShape('huber', prediction, target);
    return tf.tidy(() => {
      const error = tf.sub(prediction, target.reshape(prediction.shape));
      const absError = tf.abs(error);
      // 1 where |error| < delta, else 0, built with step (whose gradient is zero): tf.where with
      // tf.lessEqual has no gradient at all in tfjs ("gradient function not found for
      // LessEqual"), and Select's gradient uses LogicalNot, which breaks second order.
      const inside = tf.step(tf.sub(delta, absError));
      // 0.5 (inside * error)^2 rather than inside * 0.5 error^2: no 0 * Infinity for huge errors.
      const quadratic = tf.mul(0.5, tf.square(tf.mul(inside, error)));
      const linear = tf.mul(tf.sub(1, inside), tf.mul(delta, tf.sub(absError, 0.5 * delta)));
      return reduce(tf.add(quadratic, linear), reduction);
    });
  }, { name: 'huber', reduction, delta });
}

/** Softmax cross-entropy from logits [batch, classes] and integer labels [batch]. */
export function crossEntropy(reduction: Reduction = 'mean'): LossFn {
  return described((logits, labels) => {
    if (logits.rank !== 2 || labels.size !== logits.shape[0]) {
      throw new Error(`cross-entropy: expected logits [batch, classes] and labels [batch], got [${logits.shape}] and [${labels.shape}]`);
    }
    const classes = logits.shape[1] as number;
    return tf.tidy(() => {
      const oneHot = tf.oneHot(tf.cast(labels.reshape([-1]), 'int32') as tf.Tensor1D, classes);
      return reduce(tf.neg(tf.sum(tf.mul(oneHot, logSoftmax(logits)), -1)), reduction);
    });
  }, { name: 'cross-entropy', reduction });
}

/** Sigmoid cross-entropy from logits and targets in [0, 1]: softplus(x) - x * y, stable for any x. */
export function binaryCrossEntropy(reduction: Reduction = 'mean'): LossFn {
  return described((logits, targets) => {
    checkSameShape('binary-cross-entropy', logits, targets);
    return tf.tidy(() => {
      const y = tf.cast(targets.reshape(logits.shape), 'float32');
      return reduce(tf.sub(tf.softplus(logits), tf.mul(logits, y)), reduction);
    });
  }, { name: 'binary-cross-entropy', reduction });
}

export function lossByName(name: LossName, reduction: Reduction = 'mean'): LossFn {
  switch (name) {
    case 'mse':
      return meanSquaredError(reduction);
    case 'l1':
      return l1(reduction);
    case 'huber':
      return huber(1, reduction);
    case 'cross-entropy':
      return crossEntropy(reduction);
    case 'binary-cross-entropy':
      return binaryCrossEntropy(reduction);
  }
}
