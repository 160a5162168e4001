/**
 * The convolutional networks of openai/supervised-reptile (models.py), as functional models:
 *
 * - 'omniglot' (OmniglotModel): input [28, 28, 1]; 4 x [conv2d 3x3, 64 filters, stride 2, 'same',
 *   with bias -> batch norm -> ReLU] -> flatten -> dense(classes).
 * - 'miniimagenet' (MiniImageNetModel): input [84, 84, 3]; 4 x [conv2d 3x3, 32 filters, stride 1,
 *   'same', with bias -> batch norm -> max-pool 2x2 stride 2 'same' -> ReLU] -> flatten -> dense(classes).
 *
 * Batch norm always uses the statistics of the current batch (mean and biased variance over
 * batch, height and width, epsilon 1e-3 as TensorFlow's default), as the original does in training
 * AND evaluation (`training=True`); there are no moving averages. Learnable gamma (init 1) and
 * beta (init 0) per channel. (The conv bias is therefore redundant, its gradient is zero up to
 * rounding; it is kept because the original has it.)
 *
 * Parameters are named like Keras layers (`conv0/kernel` [3, 3, in, out], `conv0/bias`,
 * `bn0/gamma`, `bn0/beta`, ..., `dense/kernel` [features, classes], `dense/bias`), so that
 * `convLayersModel` exports an equivalent tfjs-layers model.
 *
 * Every op used has a gradient on every backend (with src/kernels for wasm). Second order: the
 * gradients of the conv filter gradient and of the max-pool gradient are not defined in tfjs;
 * nn/second-order.ts registers them, so MAML differentiates through both networks.
 */
import { tf } from '../core/tf.js';
// The kernels the library adds to TensorFlow.js's backends (Conv2DBackpropFilter on wasm, fused updates, ...).
import '../kernels/index.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { initBias, initKernel, type InitScheme } from './init.js';
import type { ConvSpec, Model, ModelWithSpec } from './model.js';

export type ConvVariant = ConvSpec['variant'];

/** Conv blocks in both networks. */
export const CONV_BLOCKS = 4;
/** TensorFlow's batch-normalisation epsilon (tf.layers.batch_normalization's default). */
export const BATCH_NORM_EPSILON = 1e-3;
const KERNEL_SIZE = 3;

export const CONV_DEFAULTS: Readonly<Record<ConvVariant, { inputShape: readonly number[]; filters: number }>> = {
  omniglot: { inputShape: [28, 28, 1], filters: 64 },
  miniimagenet: { inputShape: [84, 84, 3], filters: 32 },
};

export interface ConvOptions {
  variant: ConvVariant;
  classes: number;
  /** [height, width, channels]; defaults to the variant's (28x28x1 or 84x84x3). */
  inputShape?: readonly number[];
  /** Filters per conv layer; defaults to the variant's (64 or 32). */
  filters?: number;
  init?: InitScheme;
}

/** The full spec for `options`, defaults filled in. */
export function convSpec(options: ConvOptions): ConvSpec {
  const { variant, classes } = options;
  if (variant !== 'omniglot' && variant !== 'miniimagenet') {
    throw new RangeError(`conv variant must be 'omniglot' or 'miniimagenet', got '${String(variant)}'`);
  }
  const defaults = CONV_DEFAULTS[variant];
  const inputShape = [...(options.inputShape ?? defaults.inputShape)];
  const filters = options.filters ?? defaults.filters;
  const init = options.init ?? 'tensorflow';
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new RangeError(`conv inputShape must be [height, width, channels] of positive integers, got [${inputShape.join(', ')}]`);
  }
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`conv classes must be a positive integer, got ${classes}`);
  if (!Number.isInteger(filters) || filters < 1) throw new RangeError(`conv filters must be a positive integer, got ${filters}`);
  if (init !== 'tensorflow' && init !== 'pytorch') throw new RangeError(`conv init must be 'tensorflow' or 'pytorch', got '${String(init)}'`);
  return { kind: 'conv', variant, inputShape, classes, filters, init };
}

/**
 * A CNN of the block family the fused kernel computes (src/kernels/fused-cnn.ts): blocks of
 * [conv 3x3, `filters` filters, stride 1 or 2, 'same', with bias -> batch norm with batch statistics
 * (epsilon 1e-3) -> optionally max-pool 2x2 stride 2 'same' -> ReLU], flatten, dense(classes). Both
 * variants are in it, and converted models whose layers match it (nn/kernel-equivalent.ts).
 */
export interface ConvBlocksSpec {
  kind: 'conv-blocks';
  inputShape: number[];
  classes: number;
  filters: number;
  blocks: { stride: 1 | 2; pool: boolean }[];
}

/** A variant's architecture as blocks: 'omniglot' strides by 2, 'miniimagenet' max-pools. */
export function convBlocks(spec: ConvSpec): ConvBlocksSpec {
  const block = { stride: spec.variant === 'omniglot' ? 2 : 1, pool: spec.variant === 'miniimagenet' } as const;
  return { kind: 'conv-blocks', inputShape: [...spec.inputShape], classes: spec.classes, filters: spec.filters, blocks: Array.from({ length: CONV_BLOCKS }, () => ({ ...block })) };
}

/** Spatial size after the blocks: 'same' convolutions and pools divide height and width by their strides, rounding up. */
export function convFeatureShape(spec: ConvSpec | ConvBlocksSpec): [number, number, number] {
  const arch = spec.kind === 'conv' ? convBlocks(spec) : spec;
  let [h, w] = arch.inputShape;
  for (const { stride, pool } of arch.blocks) {
    [h, w] = [Math.ceil(h / stride), Math.ceil(w / stride)];
    if (pool) [h, w] = [Math.ceil(h / 2), Math.ceil(w / 2)];
  }
  return [h, w, arch.filters];
}

/**
 * Batch normalisation with the batch's own statistics over every axis but the last, written as
 * x * scale + shift with per-channel scale = gamma / sqrt(var + eps) and shift = beta - mean * scale
 * (two full-size ops instead of four; the same function). Any rank (converted tfjs-layers models
 * also normalise dense features); gamma and beta may be the constants 1 and 0.
 */
export function batchNormBatchStats<T extends tf.Tensor>(x: T, gamma: tf.Tensor | number, beta: tf.Tensor | number, epsilon = BATCH_NORM_EPSILON): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift) as T;
  });
}

/** The models this factory made: only they are known to compute exactly what their spec says. */
const madeHere = new WeakSet<Model>();

/** Whether `model` is a CNN made by `conv` (so kernels may compute it from its spec alone). */
export function isLibraryConv(model: Model): boolean {
  return madeHere.has(model);
}

/** A CNN from a full spec (as `buildModel` passes) or from options with defaults. */
export function conv(options: ConvOptions | ConvSpec): ModelWithSpec<ConvSpec> {
  const spec = convSpec(options);
  const [height, width, channels] = spec.inputShape;
  const features = convFeatureShape(spec).reduce((a, b) => a * b, 1);
  const stride = spec.variant === 'omniglot' ? 2 : 1;
  const pool = spec.variant === 'miniimagenet';

  const model: ModelWithSpec<ConvSpec> = {
    spec,
    inputShape: [...spec.inputShape],
    outputSize: spec.classes,
    batchStatistics: true,
    init(rng: Rng): ParamSet {
      const params: Record<string, tf.Tensor> = {};
      let inC = channels;
      for (let l = 0; l < CONV_BLOCKS; l++) {
        const outC = spec.filters;
        // TensorFlow's Glorot for convolutions: fans include the receptive field.
        const receptive = KERNEL_SIZE * KERNEL_SIZE;
        const [fanIn, fanOut] = [receptive * inC, receptive * outC];
        params[`conv${l}/kernel`] = tf.tensor4d(initKernel(rng, spec.init, fanIn * outC, fanIn, fanOut), [KERNEL_SIZE, KERNEL_SIZE, inC, outC]);
        params[`conv${l}/bias`] = tf.tensor1d(initBias(rng, spec.init, outC, fanIn));
        params[`bn${l}/gamma`] = tf.ones([outC]);
        params[`bn${l}/beta`] = tf.zeros([outC]);
        inC = outC;
      }
      params['dense/kernel'] = tf.tensor2d(initKernel(rng, spec.init, features * spec.classes, features, spec.classes), [features, spec.classes]);
      params['dense/bias'] = tf.tensor1d(initBias(rng, spec.init, spec.classes, features));
      return params;
    },
    /** Batch statistics whatever `training` says: the original has no moving averages. */
    apply(params: ParamSet, x: tf.Tensor): tf.Tensor2D {
      const batch = x.shape[0];
      if (x.size !== batch * height * width * channels) {
        throw new Error(`conv model: input of shape [${x.shape}] does not hold ${batch} examples of [${spec.inputShape}]`);
      }
      return tf.tidy(() => {
        let h = x.reshape([batch, height, width, channels]) as tf.Tensor4D;
        for (let l = 0; l < CONV_BLOCKS; l++) {
          h = tf.conv2d(h, params[`conv${l}/kernel`] as tf.Tensor4D, stride, 'same');
          h = tf.add(h, params[`conv${l}/bias`]);
          h = batchNormBatchStats(h, params[`bn${l}/gamma`], params[`bn${l}/beta`]);
          if (pool) h = tf.maxPool(h, 2, 2, 'same');
          h = tf.relu(h);
        }
        return tf.add(tf.matMul(h.reshape([batch, features]), params['dense/kernel'] as tf.Tensor2D), params['dense/bias']) as tf.Tensor2D;
      });
    },
  };
  madeHere.add(model);
  return model;
}

export function omniglotConv(classes: number, options: Omit<ConvOptions, 'variant' | 'classes'> = {}): ModelWithSpec<ConvSpec> {
  return conv({ ...options, variant: 'omniglot', classes });
}

export function miniImageNetConv(classes: number, options: Omit<ConvOptions, 'variant' | 'classes'> = {}): ModelWithSpec<ConvSpec> {
  return conv({ ...options, variant: 'miniimagenet', classes });
}

/** True for weights that the exported tfjs-layers model has but the functional model does not (batch norm's moving statistics). */
export function isExportOnlyWeight(name: string): boolean {
  return /\/moving_(mean|variance)$/.test(name);
}

/**
 * The equivalent tfjs-layers model with `params` as its weights (for export). Its input is
 * [batch, ...inputShape] (the functional model also takes flattened images).
 *
 * Batch norm: a LayersModel in inference mode (`predict`, or `apply` without `training: true`)
 * normalises with its MOVING statistics, which are exported as mean 0 and variance 1 (the
 * functional model keeps none). To reproduce the functional model's outputs, call it with batch
 * statistics: `layersModel.apply(x, { training: true })`.
 */
export function convLayersModel(spec: ConvSpec, params: ParamSet): tf.Sequential {
  const full = convSpec(spec);
  const seq = tf.sequential();
  for (let l = 0; l < CONV_BLOCKS; l++) {
    seq.add(
      tf.layers.conv2d({
        name: `conv${l}`,
        filters: full.filters,
        kernelSize: KERNEL_SIZE,
        strides: full.variant === 'omniglot' ? 2 : 1,
        padding: 'same',
        dataFormat: 'channelsLast',
        useBias: true,
        ...(l === 0 ? { inputShape: full.inputShape } : {}),
      }),
    );
    seq.add(tf.layers.batchNormalization({ name: `bn${l}`, axis: -1, epsilon: BATCH_NORM_EPSILON, momentum: 0.99 }));
    if (full.variant === 'miniimagenet') seq.add(tf.layers.maxPooling2d({ name: `pool${l}`, poolSize: 2, strides: 2, padding: 'same' }));
    seq.add(tf.layers.activation({ name: `relu${l}`, activation: 'relu' }));
  }
  seq.add(tf.layers.flatten({ name: 'flatten' }));
  seq.add(tf.layers.dense({ name: 'dense', units: full.classes }));
  setExportWeights(seq, params, 'convLayersModel');
  return seq;
}

/**
 * Sets a LayersModel's weights from parameters named like them; batch norm's moving statistics
 * (which functional models do not keep) become mean 0 and variance 1.
 */
export function setExportWeights(layersModel: tf.LayersModel, params: ParamSet, what: string): void {
  const values = tf.tidy(() =>
    layersModel.weights.map((w) => {
      const name = w.originalName;
      if (name.endsWith('/moving_mean')) return tf.zeros(w.shape as number[]);
      if (name.endsWith('/moving_variance')) return tf.ones(w.shape as number[]);
      const p = params[name];
      if (!p) throw new Error(`${what}: no parameter '${name}'`);
      return p.clone();
    }),
  );
  layersModel.setWeights(values);
  tf.dispose(values);
}
