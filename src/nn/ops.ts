/**
 * Small ops whose gradients are themselves differentiable, so that second-order methods can
 * differentiate through losses built from them. tfjs's own logSoftmax / softmaxCrossEntropy are
 * customGrad ops whose backward pass is not differentiated again (second derivatives come out
 * silently wrong), and the gradient of its max uses Equal, which has no gradient at all.
 */
import { tf } from '../core/tf.js';
// The kernels the library adds to TensorFlow.js's backends (Conv2DBackpropFilter on wasm, fused updates, ...).
import '../kernels/index.js';

/**
 * max(x) along the last axis (kept), treated as a constant by autodiff. Ops inside a customGrad
 * forward pass are not taped, and the gradient is a constant zero, exact at every order.
 */
const maxAsConstant = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.max(x, -1, true),
  gradFunc: () => tf.zeros(x.shape),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/**
 * tfjs's gradients of Exp and Tanh reuse the op's saved OUTPUT, and the engine saves outputs as
 * clones that the tape does not connect back to the input: tf.grad of tf.grad through tf.exp or
 * tf.tanh treats exp(x) / tanh(x) as constants there, and second derivatives come out silently
 * wrong (or "Cannot compute gradient"). These versions rebuild the derivative from x with
 * themselves, so every order of derivative is exact.
 */
type UnaryOp = (x: tf.Tensor) => tf.Tensor;
type Save = (tensors: tf.Tensor[]) => void;
/** A unary op whose gradient `grad(dy, x)` is computed from the (saved) input x. */
const withGradFromInput = (forward: (x: tf.Tensor) => tf.Tensor, grad: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor): UnaryOp =>
  tf.customGrad(((x: tf.Tensor, save: Save) => {
    // Saved, not captured: x may be an intermediate that the forward pass's tidy disposes.
    save([x]);
    return { value: forward(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => grad(dy, saved[0]) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as UnaryOp;

/** exp(x), differentiable at every order. */
export const exp: UnaryOp = withGradFromInput(
  (x) => tf.exp(x),
  (dy, x) => tf.mul(dy, exp(x)),
);

/** tanh(x), differentiable at every order. */
export const tanh: UnaryOp = withGradFromInput(
  (x) => tf.tanh(x),
  (dy, x) => tf.mul(dy, tf.sub(1, tf.square(tanh(x)))),
);

/** log(sum(exp(x))) along the last axis, keeping it; stable for large |x|. */
export function logSumExp(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // The shift cancels mathematically, so holding it constant leaves every derivative exact.
    const shift = maxAsConstant(x);
    return tf.add(tf.log(tf.sum(exp(tf.sub(x, shift)), -1, true)), shift);
  });
}

/** log(softmax(x)) along the last axis. */
export function logSoftmax(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(x, logSumExp(x)));
}

/** sigmoid(x), differentiable at every order (tfjs's gradient reuses the saved output, as tanh's). */
export const sigmoid: UnaryOp = withGradFromInput(
  (x) => tf.sigmoid(x),
  (dy, x) => {
    const s = sigmoid(x);
    return tf.mul(dy, tf.mul(s, tf.sub(1, s)));
  },
);
