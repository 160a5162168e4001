/**
 * The one place the library imports TensorFlow.js from. `@tensorflow/tfjs` is the package that
 * registers every op's gradient in Node as well as in bundlers (tfjs-core alone does not in
 * Node), and brings the cpu and webgl backends; the wasm backend registers itself on import.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

// The library's own kernels are registered by src/kernels/register.ts, imported by the modules that run models (nn/).

// Production mode: no per-op debug checks, and no "install tfjs-node" banner on first use.
tf.enableProdMode();

export { tf };

/**
 * tf.tidy for results of any shape: tensors anywhere inside the returned object are kept,
 * everything else created inside is disposed. (tf.tidy's own type only admits TensorContainer,
 * which excludes interfaces such as parameter sets and optimizer states.)
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
