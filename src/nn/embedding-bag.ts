/**
 * Embedding bag + MLP head for text (browser-safe). A text's vector is the mean of the embeddings
 * of its hashed features (src/text/tokenizer.ts), as fastText's, and dense layers map it to the
 * class logits (activation between them, none after the last).
 *
 * The mean is computed as a product: an example is its bag of features, a vector over the
 * `buckets` ids holding count(id) / (number of features) (`bagOfFeatures`), and
 * mean = bag x E for the embedding table E [buckets, dim]. This is the same number as gathering
 * the rows and averaging them, but runs on the wasm backend's fast matmul path: its Gather
 * kernel took ~20 ms for a 25-text batch and it has no kernel for Gather's gradient
 * (UnsortedSegmentSum), whereas bag x E and its gradient take about 1 ms (measured on the
 * project's machine, 16384 x 64 table). Parameters are named like Keras layers:
 * `embedding/kernel` [buckets, dim], then `dense<l>/kernel` and `dense<l>/bias`.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { validateTokenizer, type TokenizerSpec } from '../text/tokenizer.js';
import type { InitScheme } from './init.js';
import { mlp } from './mlp.js';
import type { Model } from './model.js';

export interface EmbeddingBagSpec {
  kind: 'embedding-bag';
  /** How texts become ids; its `buckets` is the embedding table's row count. */
  tokenizer: TokenizerSpec;
  /** Embedding width. */
  dim: number;
  /** Hidden widths of the MLP head ([] : a linear head). */
  hidden: number[];
  classes: number;
  activation: 'relu' | 'tanh';
  init: InitScheme;
}

export function embeddingBag(spec: EmbeddingBagSpec): Model {
  validateTokenizer(spec.tokenizer);
  for (const [what, n] of [['dim', spec.dim], ['classes', spec.classes], ...spec.hidden.map((h) => ['hidden', h] as const)] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`embedding-bag ${what} must be a positive integer, got ${n}`);
  }
  const { buckets } = spec.tokenizer;
  // The head is an MLP on the mean embedding (its parameters: dense0/kernel, dense0/bias, ...).
  const head = mlp([spec.dim, ...spec.hidden, spec.classes], { activation: spec.activation, init: spec.init });
  return {
    spec,
    inputShape: [buckets],
    outputSize: spec.classes,
    batchStatistics: false,
    init(rng: Rng): ParamSet {
      // Keras's Embedding default, U(-0.05, 0.05), for 'tensorflow'; PyTorch's nn.Embedding, N(0, 1), for 'pytorch'.
      const table = new Float32Array(buckets * spec.dim);
      for (let i = 0; i < table.length; i++) table[i] = spec.init === 'tensorflow' ? rng.uniform(-0.05, 0.05) : rng.normal();
      return { 'embedding/kernel': tf.tensor2d(table, [buckets, spec.dim]), ...head.init(rng) };
    },
    apply(params: ParamSet, x: tf.Tensor): tf.Tensor2D {
      return tf.tidy(() => head.apply(params, tf.matMul(x.reshape([x.shape[0], buckets]) as tf.Tensor2D, params['embedding/kernel'] as tf.Tensor2D)));
    },
  };
}

/**
 * The same network as a tfjs-layers model (for model.json): a Dense layer without bias named
 * `embedding` (the table) on the bag of features, then the Dense head. It loads with
 * tf.loadLayersModel as an ordinary model; its input is `tokenizer(spec.tokenizer).bagInto`'s vector.
 */
export function embeddingBagLayersModel(spec: EmbeddingBagSpec, params: ParamSet): tf.LayersModel {
  const sizes = [spec.dim, ...spec.hidden, spec.classes];
  const seq = tf.sequential();
  seq.add(tf.layers.dense({ name: 'embedding', units: spec.dim, useBias: false, inputShape: [spec.tokenizer.buckets] }));
  for (let l = 0; l < sizes.length - 1; l++) {
    seq.add(tf.layers.dense({ name: `dense${l}`, units: sizes[l + 1], activation: l < sizes.length - 2 ? spec.activation : 'linear' }));
  }
  seq.setWeights(Object.keys(params).map((n) => params[n]));
  return seq;
}
