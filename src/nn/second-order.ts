/**
 * Gradients that tfjs lacks on the path second-order MAML differentiates through the CNNs.
 *
 * A conv layer's weight gradient is the kernel Conv2DBackpropFilter(x, dy), which has no
 * registered gradient in tfjs: differentiating a conv net's gradient again threw. It is bilinear
 * in (x, dy): for an upstream gradient G of the filter's shape,
 *   d<G, dW>/dx  = conv2DBackpropInput(x.shape, dy, G)   (the transpose conv, as for conv2d's input)
 *   d<G, dW>/ddy = conv2d(x, G)                            (the forward conv with G as the filter)
 * both of which have gradients in tfjs, so derivatives of every order compose.
 *
 * What else is on the CNN path was checked in tfjs 4.22 (test/maml-gradient.test.ts compares
 * the whole meta-gradient with finite differences): Conv2D and Conv2DBackpropInput, Relu (its
 * gradient uses the saved input, and step has a zero gradient), batch norm's Mean,
 * SquaredDifference, Rsqrt (via Pow's base derivative), Mul, Add, Sub, Reshape and MatMul all
 * build their gradients from saved INPUTS, which the tape connects; the ops that go wrong reuse
 * a saved OUTPUT (Exp, Tanh, Softmax, LogSoftmax, Max, MaxPool...: nn/ops.ts replaces the ones
 * the models and losses use).
 *
 * MaxPool (the Mini-ImageNet CNN): its gradient MaxPoolGrad(dy, x, y) routes each window's dy to
 * the window's maximum, using the saved output y only to find it; the routing is piecewise
 * constant in x and y, so their derivatives are zero, and nothing is lost by y's clone being cut
 * from the tape. What tfjs lacks is MaxPoolGrad's own gradient (second order threw). It is linear
 * in dy: its transpose takes, for each window, the upstream value at the routed position. Here,
 * for non-overlapping windows (filter size = stride, as the paper's 2x2/2 pooling), that is
 * sum over the window of G * M, with M = MaxPoolGrad(ones) the routing mask.
 *
 * AvgPool (converted tfjs-layers models): its gradient AvgPoolGrad(dy, x) spreads each window's
 * dy evenly over the window; it is the transpose A^T of the linear map A = AvgPool and does not
 * depend on x's values. Its own gradient, which tfjs lacks, is therefore A itself: AvgPool of the
 * upstream gradient, for any window, stride and padding.
 *
 * Comparisons (Greater, LessEqual, LogicalAnd, ...): the gradients of Minimum, Maximum and
 * ClipByValue (the converted models' ELU and ReLU6) build a mask from x with them, and tfjs
 * registers no gradient for them, so differentiating such a gradient again threw. A comparison is
 * piecewise constant: its derivative is zero (wherever it is defined), exactly.
 */
import { tf } from '../core/tf.js';

let registered = false;

/** Binary comparison and logic kernels (inputs a and b), whose derivative is zero. */
const COMPARISONS = ['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr'];

/** Registers the missing gradients (once; later calls do nothing). */
export function registerSecondOrderGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const upstream = ddw as tf.Tensor4D;
      const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as {
        strides: [number, number] | number;
        pad: 'same' | 'valid' | number;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      return {
        x: () => tf.conv2dTranspose(dy, upstream, x.shape, strides, pad as 'same' | 'valid', dimRoundingMode),
        dy: () => tf.conv2d(x, upstream, strides, pad as 'same' | 'valid', dataFormat === 'NCHW' ? 'NCHW' : 'NHWC', 1, dimRoundingMode),
      };
    },
  });
  tf.registerGradient({
    kernelName: 'MaxPoolGrad',
    inputsToSave: ['dy', 'input', 'output'],
    gradFunc: (upstream: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [dy, input, output] = saved as tf.Tensor4D[];
      const g = upstream as tf.Tensor4D;
      return {
        dy: () => {
          const mask = tf.engine().runKernel('MaxPoolGrad', { dy: tf.onesLike(dy), input, output }, attrs) as tf.Tensor4D;
          return sumWindows(tf.mul(g, mask) as tf.Tensor4D, dy.shape, attrs);
        },
        input: () => tf.zerosLike(input),
        output: () => tf.zerosLike(output),
      };
    },
  });
  for (const kernelName of COMPARISONS) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Object.fromEntries(['a', 'b'].map((name, i) => [name, () => tf.zerosLike(saved[i])])),
    });
  }
  tf.registerGradient({
    kernelName: 'AvgPoolGrad',
    inputsToSave: ['input'],
    gradFunc: (upstream: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [input] = saved;
      const { filterSize, strides, pad } = attrs as unknown as { filterSize: [number, number]; strides: [number, number]; pad: 'same' | 'valid' };
      return {
        dy: () => tf.avgPool(upstream as tf.Tensor4D, filterSize, strides, pad),
        input: () => tf.zerosLike(input),
      };
    },
  });
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [Number(v), Number(v)]);

/** The sum of `x` over each pooling window (non-overlapping windows only), shaped like the pool's output. */
function sumWindows(x: tf.Tensor4D, outShape: number[], attrs: tf.NamedAttrMap): tf.Tensor4D {
  const [fh, fw] = pair(attrs.filterSize);
  const [sh, sw] = pair(attrs.strides);
  if (fh !== sh || fw !== sw || (attrs.pad !== 'same' && attrs.pad !== 'valid')) {
    throw new Error(`second derivatives of max-pooling are implemented for non-overlapping windows with 'same' or 'valid' padding, got filter ${fh}x${fw}, strides ${sh}x${sw}, pad ${JSON.stringify(attrs.pad)}`);
  }
  const [n, outH, outW, c] = outShape;
  const [h, w] = [outH * fh, outW * fw];
  // 'same' with filter = stride pads only at the bottom and right (by less than one window);
  // 'valid' drops the rows and columns that no window covers.
  let fitted = x;
  if (x.shape[1] < h || x.shape[2] < w) fitted = tf.pad(fitted, [[0, 0], [0, Math.max(0, h - x.shape[1])], [0, Math.max(0, w - x.shape[2])], [0, 0]]);
  if (fitted.shape[1] > h || fitted.shape[2] > w) fitted = tf.slice(fitted, [0, 0, 0, 0], [n, h, w, c]);
  return tf.sum(tf.reshape(fitted, [n, outH, fh, outW, fw, c]), [2, 4]) as tf.Tensor4D;
}
