/**
 * Small ops whose gradients are themselves differentiable, so that second-order methods can
 * differentiate through losses built from them. tfjs's own logSoftmax / softmaxCrossEntropy are
 * customGrad ops whose backward pass is not differentiated again (second derivatives come out
 * silently wrong), and the gradient of its max uses Equal, which has no gradient at all.
 */
import { tf } from '../core/tf.js';

/**
 * max(x) along the last axis (kept), treated as a constant by autodiff. Ops inside a customGrad
 * forward pass are not taped, and the gradient is a constant zero, exact at every order.
 */
const maxAsConstant = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.max(x, -1, true),
  gradFunc: () => tf.zeros(x.shape),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** log(sum(exp(x))) along the last axis, keeping it; stable for large |x|. */
export function logSumExp(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // The shift cancels mathematically, so holding it constant leaves every derivative exact.
    const shift = maxAsConstant(x);
    return tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, shift)), -1, true)), shift);
  });
}

/** log(softmax(x)) along the last axis. */
export function logSoftmax(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(x, logSumExp(x)));
}
