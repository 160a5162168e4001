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
 *
 * With `weighting: 'learned'` (`--model weighted-embedding-bag`) each feature also has a learned
 * importance s (`embedding/importance` [buckets], initially 0) and a text's vector is the weighted
 * mean sum_f c_f e^(s_f) E_f / sum_f c_f e^(s_f) (c_f: the feature's count): at s = 0 the plain
 * mean. Meta-learning can then learn which features matter for new classes (function words
 * little, content words much), a signal that does not depend on how a task's labels are
 * permuted, so Reptile's averaging keeps it where it averages out the label-specific part of the
 * table's updates (docs/text.md).
 */
import { tf } from '../core/tf.js';
// The kernels the library adds to TensorFlow.js's backends (Conv2DBackpropFilter on wasm, fused updates, ...).
import '../kernels/index.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { validateTokenizer, type TokenizerSpec } from '../text/tokenizer.js';
import type { InitScheme } from './init.js';
import { mlp } from './mlp.js';
import type { Model, ModelWithSpec } from './model.js';

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
  /** 'mean' (absent in older files): the plain mean; 'learned': the importance-weighted mean. */
  weighting?: 'mean' | 'learned';
}

/** The weighted mean of feature embeddings: (bag * e^s) E / sum(bag * e^s); a text without features gives 0. */
function weightedMean(bag: tf.Tensor2D, table: tf.Tensor2D, importance: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const weighted = tf.mul(bag, tf.exp(importance)) as tf.Tensor2D;
    // The floor only matters for an empty bag (0 / floor = 0); a text's total is at least e^min(s) / maxTokens.
    return tf.div(tf.matMul(weighted, table), tf.maximum(tf.sum(weighted, 1, true), 1e-30)) as tf.Tensor2D;
  });
}

export function embeddingBag(spec: EmbeddingBagSpec): ModelWithSpec<EmbeddingBagSpec> {
  validateTokenizer(spec.tokenizer);
  for (const [what, n] of [['dim', spec.dim], ['classes', spec.classes], ...spec.hidden.map((h) => ['hidden', h] as const)] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`embedding-bag ${what} must be a positive integer, got ${n}`);
  }
  const { buckets } = spec.tokenizer;
  const learned = spec.weighting === 'learned';
  if (spec.weighting !== undefined && spec.weighting !== 'mean' && !learned) throw new RangeError(`embedding-bag weighting must be mean or learned, got ${String(spec.weighting)}`);
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
      const importance: ParamSet = learned ? { 'embedding/importance': tf.zeros([buckets]) } : {};
      return { 'embedding/kernel': tf.tensor2d(table, [buckets, spec.dim]), ...importance, ...head.init(rng) };
    },
    apply(params: ParamSet, x: tf.Tensor): tf.Tensor2D {
      return tf.tidy(() => {
        const bag = x.reshape([x.shape[0], buckets]) as tf.Tensor2D;
        const table = params['embedding/kernel'] as tf.Tensor2D;
        return head.apply(params, learned ? weightedMean(bag, table, params['embedding/importance'] as tf.Tensor1D) : tf.matMul(bag, table));
      });
    },
  };
}

/**
 * The importance-weighted mean as a tfjs-layers layer (weights `kernel` and `importance`), for
 * model.json: no built-in layer divides, so it is a custom class, registered with tfjs's
 * serialization when this module loads (tf.loadLayersModel finds it once the library is imported).
 */
export class WeightedFeatureMean extends tf.layers.Layer {
  static readonly className = 'ReptileWeightedFeatureMean';
  private readonly units: number;
  private kernel?: tf.LayerVariable;
  private importance?: tf.LayerVariable;

  constructor(config: { units: number; name?: string; inputShape?: number[] }) {
    super(config);
    this.units = config.units;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const buckets = (inputShape as number[])[1];
    this.kernel = this.addWeight('kernel', [buckets, this.units], 'float32', tf.initializers.zeros());
    this.importance = this.addWeight('importance', [buckets], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [inputShape[0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return weightedMean(x as tf.Tensor2D, this.kernel!.read() as tf.Tensor2D, this.importance!.read() as tf.Tensor1D);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}
tf.serialization.registerClass(WeightedFeatureMean);

/**
 * The same network as a tfjs-layers model (for model.json): a Dense layer without bias named
 * `embedding` (the table) on the bag of features, or for the weighted mean the
 * WeightedFeatureMean layer, then the Dense head. It loads with tf.loadLayersModel (the weighted
 * one once this library is imported); its input is `tokenizer(spec.tokenizer).bagInto`'s vector.
 */
export function embeddingBagLayersModel(spec: EmbeddingBagSpec, params: ParamSet): tf.LayersModel {
  const sizes = [spec.dim, ...spec.hidden, spec.classes];
  const seq = tf.sequential();
  const inputShape = [spec.tokenizer.buckets];
  seq.add(spec.weighting === 'learned' ? new WeightedFeatureMean({ name: 'embedding', units: spec.dim, inputShape }) : tf.layers.dense({ name: 'embedding', units: spec.dim, useBias: false, inputShape }));
  for (let l = 0; l < sizes.length - 1; l++) {
    seq.add(tf.layers.dense({ name: `dense${l}`, units: sizes[l + 1], activation: l < sizes.length - 2 ? spec.activation : 'linear' }));
  }
  seq.setWeights(Object.keys(params).map((n) => params[n]));
  return seq;
}
