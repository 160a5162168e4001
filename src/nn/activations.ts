/**
 * The Keras activations that `fromLayersModel` converts, each written so that derivatives of
 * every order are exact (nn/ops.ts says why tfjs's own Exp, Tanh, Sigmoid, Softmax, Elu and
 * Softplus gradients are not: they reuse the op's saved output). ReLU and ReLU6 are tfjs's own:
 * their gradients use the saved input only.
 */
import { tf } from '../core/tf.js';
import { exp, logSoftmax, sigmoid, tanh } from './ops.js';

type Activation = (x: tf.Tensor) => tf.Tensor;

export const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.clipByValue(x, 0, 6),
  tanh,
  sigmoid,
  softmax: (x) => exp(logSoftmax(x)),
  // x for x > 0, e^x - 1 below: relu(x) + e^min(x, 0) - 1, with no comparison (whose gradient tfjs lacks).
  elu: (x) => tf.sub(tf.add(tf.relu(x), exp(tf.minimum(x, 0))), 1),
  // log(1 + e^x) = relu(x) + log(1 + e^-|x|), which never overflows.
  softplus: (x) => tf.add(tf.relu(x), tf.log(tf.add(1, exp(tf.neg(tf.abs(x)))))),
};

/** The activation called `name`, or undefined for one not converted. */
export function activationNamed(name: string): Activation | undefined {
  return Object.hasOwn(ACTIVATIONS, name) ? ACTIVATIONS[name] : undefined;
}
