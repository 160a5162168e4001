/**
 * Multi-layer perceptron: dense layers with an activation between them, none after the last.
 * Covers the sine model (1-64-64-1, tanh) and the article's MetaModel (784-64-64-10, ReLU).
 * Parameters are named like Keras dense layers (`dense0/kernel` [in, out], `dense0/bias`), so an
 * exported model loads as a TensorFlow.js LayersModel.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { initBias, initKernel, type InitScheme } from './init.js';
import { tanh } from './ops.js';
import type { MlpSpec, Model, ModelWithSpec } from './model.js';

export interface MlpOptions {
  activation?: 'relu' | 'tanh';
  init?: InitScheme;
}

/** The models this factory made: only they are known to compute exactly what their spec says. */
const madeHere = new WeakSet<Model>();

/** Whether `model` is an MLP made by `mlp` (so kernels may compute it from its spec alone). */
export function isLibraryMlp(model: Model): boolean {
  return madeHere.has(model);
}

export function mlp(sizes: readonly number[], options: MlpOptions = {}): ModelWithSpec<MlpSpec> {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new RangeError(`mlp sizes must be at least two positive integers, got [${sizes.join(', ')}]`);
  }
  const spec: MlpSpec = { kind: 'mlp', sizes: [...sizes], activation: options.activation ?? 'relu', init: options.init ?? 'tensorflow' };
  const layers = sizes.length - 1;
  // ops.tanh, not tf.tanh: second-order methods differentiate through it (see ops.ts).
  const activate = spec.activation === 'tanh' ? tanh : tf.relu;

  const model: ModelWithSpec<MlpSpec> = {
    spec,
    inputShape: [sizes[0]],
    outputSize: sizes[layers],
    batchStatistics: false,
    init(rng: Rng): ParamSet {
      const params: Record<string, tf.Tensor> = {};
      for (let l = 0; l < layers; l++) {
        const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
        params[`dense${l}/kernel`] = tf.tensor2d(initKernel(rng, spec.init, fanIn * fanOut, fanIn, fanOut), [fanIn, fanOut]);
        params[`dense${l}/bias`] = tf.tensor1d(initBias(rng, spec.init, fanOut, fanIn));
      }
      return params;
    },
    apply(params: ParamSet, x: tf.Tensor): tf.Tensor2D {
      return tf.tidy(() => {
        let h = x.reshape([x.shape[0], sizes[0]]) as tf.Tensor2D;
        for (let l = 0; l < layers; l++) {
          h = tf.add(tf.matMul(h, params[`dense${l}/kernel`] as tf.Tensor2D), params[`dense${l}/bias`]);
          if (l < layers - 1) h = activate(h) as tf.Tensor2D;
        }
        return h;
      });
    },
    applyStacked(params: ParamSet, x: tf.Tensor): tf.Tensor3D {
      return tf.tidy(() => {
        const [copies, batch] = x.shape;
        let h = x.reshape([copies, batch, sizes[0]]) as tf.Tensor3D;
        for (let l = 0; l < layers; l++) {
          const bias = params[`dense${l}/bias`];
          h = tf.add(tf.matMul(h, params[`dense${l}/kernel`] as tf.Tensor3D), bias.reshape([copies, 1, sizes[l + 1]]));
          if (l < layers - 1) h = activate(h) as tf.Tensor3D;
        }
        return h;
      });
    },
  };
  madeHere.add(model);
  return model;
}
