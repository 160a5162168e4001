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
 * the models and losses use). MaxPool (the Mini-ImageNet CNN) is not covered: its gradient
 * kernel MaxPoolGrad has no gradient, and MAML rejects that model.
 */
import { tf } from '../core/tf.js';

let registered = false;

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
}
