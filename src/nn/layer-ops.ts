/**
 * One tfjs-layers layer as a pure function of named parameters (for `fromLayersModel`): each
 * supported layer class re-implemented with the library's ops, so that an algorithm can adapt
 * copies of its weights and differentiate through the updates (a LayersModel holds its weights
 * as variables, which neither allows). Activations go through nn/activations.ts (exact at every
 * order) and batch norm through conv.ts's batchNormBatchStats (always the batch's statistics,
 * as the paper's models). Regularizers and constraints are not applied: meta-learning
 * optimises the task loss only.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import { activationNamed, ACTIVATIONS } from './activations.js';
import { batchNormBatchStats } from './conv.js';
import type { InitializerConfig } from './layer-init.js';

export const SUPPORTED_LAYERS = [
  'InputLayer', 'Dense', 'Conv2D', 'BatchNormalization', 'MaxPooling2D', 'AveragePooling2D',
  'GlobalAveragePooling2D', 'Flatten', 'Reshape', 'Dropout', 'Activation', 'Add', 'Concatenate',
] as const;

/** The error for a layer (or an option of it) that is not converted: one line, naming the layer and the supported list. */
export class UnsupportedLayerError extends Error {
  constructor(className: string, name: string, why = 'is not supported') {
    super(`fromLayersModel: layer '${name}' (${className}) ${why}; supported layers: ${SUPPORTED_LAYERS.join(', ')}`);
    this.name = 'UnsupportedLayerError';
  }
}

/** What a layer needs to know of tfjs-layers' Layer (structural: the package's classes are not all exported). */
export interface LayerLike {
  readonly name: string;
  readonly trainable: boolean;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  readonly weights: readonly { originalName?: string; name: string; shape: readonly (number | null)[]; trainable: boolean }[];
}

/** A parameter of a converted layer. */
export interface LayerParam {
  name: string;
  shape: number[];
  initializer: InitializerConfig;
}

export interface ConvertedLayer {
  params: LayerParam[];
  /** Non-parameter weights the layer has (batch norm's moving statistics): exported, not learned. */
  exportOnly: string[];
  /** True when an example's output depends on the rest of its batch. */
  batchStatistics: boolean;
  /** Why tfjs's second derivatives through this layer would be wrong, if they would. */
  secondOrderUnsupported?: string;
  apply(params: ParamSet, inputs: tf.Tensor[]): tf.Tensor;
}

/**
 * Average pooling with TensorFlow's 'same' semantics (each window's mean over the values inside the
 * input), by explicit zero padding, 'valid' pooling, and division by each window's share of real
 * values. tfjs's own AvgPool with 'same' padding computes that forward pass, but its gradient
 * divides by the full window size wherever a window reaches into the padding (measured in tfjs
 * 4.22: off by 3x at a corner for 3x3 windows, stride 1), so even first-order gradients were wrong.
 */
function avgPoolSame(x: tf.Tensor4D, size: [number, number], strides: [number, number]): tf.Tensor4D {
  const padding = [1, 2].map((axis, i) => {
    const n = x.shape[axis];
    const total = Math.max((Math.ceil(n / strides[i]) - 1) * strides[i] + size[i] - n, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)] as [number, number];
  });
  const pad = (t: tf.Tensor4D) => tf.pad(t, [[0, 0], padding[0], padding[1], [0, 0]]);
  const share = tf.avgPool(pad(tf.ones([1, x.shape[1], x.shape[2], 1])), size, strides, 'valid');
  return tf.div(tf.avgPool(pad(x), size, strides, 'valid'), share);
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);

/**
 * The layer's functional form. `inputShapes` are its inputs' shapes without the batch axis.
 * Throws UnsupportedLayerError for any other layer class or option.
 */
export function convertLayer(layer: LayerLike, inputShapes: readonly (readonly number[])[]): ConvertedLayer {
  const className = layer.getClassName();
  const config = layer.getConfig();
  const fail = (why?: string): never => {
    throw new UnsupportedLayerError(className, layer.name, why);
  };
  if (!(SUPPORTED_LAYERS as readonly string[]).includes(className)) fail();
  if (!layer.trainable && layer.weights.length > 0) fail('is frozen (trainable: false); fromLayersModel meta-learns every weight, so set trainable = true');
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') fail(`has dataFormat '${String(config.dataFormat)}'; only 'channelsLast' is supported`);

  const weightNamed = (suffix: string) => layer.weights.find((w) => (w.originalName ?? w.name).endsWith(`/${suffix}`));
  const param = (suffix: string, initializerKey: string): LayerParam | undefined => {
    const w = weightNamed(suffix);
    if (!w) return undefined;
    return { name: w.originalName ?? w.name, shape: w.shape.map(Number), initializer: config[initializerKey] as InitializerConfig };
  };
  const activation = (key = 'activation') => {
    const name = String(config[key] ?? 'linear');
    return activationNamed(name) ?? fail(`has activation '${name}'; supported activations: ${Object.keys(ACTIVATIONS).join(', ')}`);
  };
  const single = (_p: ParamSet, inputs: tf.Tensor[]) => inputs[0];
  const plain = (apply: ConvertedLayer['apply'], extra: Partial<ConvertedLayer> = {}): ConvertedLayer => ({ params: [], exportOnly: [], batchStatistics: false, apply, ...extra });
  /** Fails for a weight the conversion would ignore (one this code does not know). */
  const known = (...expected: (LayerParam | string | undefined)[]) => {
    const names = new Set(expected.map((p) => (typeof p === 'string' ? p : p?.name)));
    for (const w of layer.weights) if (!names.has(w.originalName ?? w.name)) fail(`has a weight '${w.originalName ?? w.name}' that is not converted`);
  };

  switch (className) {
    case 'InputLayer':
    case 'Dropout':
      // Dropout: identity, as during inference (adaptation must not draw unseeded masks).
      return plain(single);
    case 'Activation': {
      const f = activation();
      return plain((_p, [x]) => f(x));
    }
    case 'Flatten':
      return plain((_p, [x]) => tf.reshape(x, [x.shape[0], -1]));
    case 'Reshape': {
      const target = (config.targetShape as number[]).map(Number);
      return plain((_p, [x]) => tf.reshape(x, [x.shape[0], ...target]));
    }
    case 'GlobalAveragePooling2D':
      return plain((_p, [x]) => tf.mean(x, [1, 2]));
    case 'Add':
      return plain((_p, inputs) => inputs.slice(1).reduce((sum, x) => tf.add(sum, x), inputs[0]));
    case 'Concatenate': {
      const axis = Number(config.axis ?? -1);
      if (axis === 0) fail('concatenates along the batch axis');
      return plain((_p, inputs) => tf.concat(inputs, axis));
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const size = pair(config.poolSize);
      const strides = config.strides == null ? size : pair(config.strides);
      const padding = config.padding as 'valid' | 'same';
      const max = className === 'MaxPooling2D';
      // nn/second-order.ts differentiates max-pooling's gradient for non-overlapping windows only.
      const unsafe = max && (size[0] !== strides[0] || size[1] !== strides[1])
        ? `layer '${layer.name}' (MaxPooling2D) has poolSize ${size.join('x')} with strides ${strides.join('x')}: second derivatives of max-pooling are implemented for non-overlapping windows (strides = poolSize) only`
        : undefined;
      const pool = (x: tf.Tensor4D) => (max ? tf.maxPool(x, size, strides, padding) : padding === 'same' ? avgPoolSame(x, size, strides) : tf.avgPool(x, size, strides, 'valid'));
      return plain((_p, [x]) => pool(x as tf.Tensor4D), unsafe ? { secondOrderUnsupported: unsafe } : {});
    }
    case 'Dense': {
      const [kernel, bias] = [param('kernel', 'kernelInitializer'), param('bias', 'biasInitializer')];
      known(kernel, bias);
      const f = activation();
      const units = Number(config.units);
      return {
        params: [kernel!, ...(bias ? [bias] : [])],
        exportOnly: [],
        batchStatistics: false,
        apply: (p, [x]) => {
          // Keras applies a dense layer to the last axis of an input of any rank.
          const flat = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
          let h: tf.Tensor = tf.matMul(flat as tf.Tensor2D, p[kernel!.name] as tf.Tensor2D);
          if (bias) h = tf.add(h, p[bias.name]);
          if (x.rank !== 2) h = tf.reshape(h, [...x.shape.slice(0, -1), units]);
          return f(h);
        },
      };
    }
    case 'Conv2D': {
      const [kernel, bias] = [param('kernel', 'kernelInitializer'), param('bias', 'biasInitializer')];
      known(kernel, bias);
      const strides = pair(config.strides ?? 1);
      const dilation = pair(config.dilationRate ?? 1);
      const padding = config.padding as string;
      if (padding !== 'same' && padding !== 'valid') fail(`has padding '${padding}'; only 'same' and 'valid' are supported`);
      // tfjs has no gradient for dilated convolutions' filters.
      if (dilation[0] !== 1 || dilation[1] !== 1) fail(`has dilationRate ${dilation.join('x')}; only 1 is supported`);
      const f = activation();
      return {
        params: [kernel!, ...(bias ? [bias] : [])],
        exportOnly: [],
        batchStatistics: false,
        apply: (p, [x]) => {
          let h: tf.Tensor = tf.conv2d(x as tf.Tensor4D, p[kernel!.name] as tf.Tensor4D, strides, padding as 'same' | 'valid');
          if (bias) h = tf.add(h, p[bias.name]);
          return f(h);
        },
      };
    }
    case 'BatchNormalization': {
      const rank = inputShapes[0].length + 1;
      const axis = Number(config.axis ?? -1);
      if (axis !== -1 && axis !== rank - 1) fail(`normalises axis ${axis}; only the last axis (-1) is supported`);
      const [gamma, beta] = [param('gamma', 'gammaInitializer'), param('beta', 'betaInitializer')];
      const stats = ['moving_mean', 'moving_variance'].map((s) => weightNamed(s)).filter((w) => w).map((w) => w!.originalName ?? w!.name);
      known(gamma, beta, ...stats);
      const epsilon = Number(config.epsilon ?? 1e-3);
      return {
        params: [gamma, beta].filter((p): p is LayerParam => p !== undefined),
        exportOnly: stats,
        batchStatistics: true,
        apply: (p, [x]) => batchNormBatchStats(x, gamma ? p[gamma.name] : 1, beta ? p[beta.name] : 0, epsilon),
      };
    }
  }
  return fail();
}
