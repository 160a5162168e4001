/**
 * Functional models: parameters are explicit named tensors, so an algorithm can adapt copies of
 * them, differentiate through updates, and average them, without hidden state.
 */
import type { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { InitScheme } from './init.js';
import type { EmbeddingBagSpec } from './embedding-bag.js';

export interface ApplyOptions {
  /** Training mode (batch statistics for batch norm). The paper's models always use batch statistics. */
  training?: boolean;
}

/** A JSON description from which `buildModel` recreates the model (stored with exported weights). */
export interface MlpSpec {
  kind: 'mlp';
  /** Layer widths, input first: [1, 64, 64, 1] is the sine model. */
  sizes: number[];
  activation: 'relu' | 'tanh';
  init: InitScheme;
}

/**
 * The 4-block CNNs of openai/supervised-reptile (see conv.ts): 'omniglot' is 4 x [conv 3x3 stride 2,
 * batch norm, ReLU]; 'miniimagenet' is 4 x [conv 3x3 stride 1, batch norm, max-pool 2x2, ReLU];
 * both end with flatten and a dense layer of `classes` logits.
 */
export interface ConvSpec {
  kind: 'conv';
  variant: 'omniglot' | 'miniimagenet';
  /** [height, width, channels] of one example: [28, 28, 1] (Omniglot) or [84, 84, 3] (Mini-ImageNet). */
  inputShape: number[];
  classes: number;
  /** Filters per conv layer: 64 (Omniglot) or 32 (Mini-ImageNet) in the original. */
  filters: number;
  init: InitScheme;
}

/**
 * A user's tfjs-layers model converted by `fromLayersModel` (nn/from-layers-model.ts): the
 * architecture as tfjs-layers describes it (`LayersModel.getConfig()`, plain JSON), from which
 * `buildModel` deserialises the same layers synchronously (`fromConfig`) and converts them again.
 * Weights are not part of a spec: a model rebuilt from one draws its parameters from `init`'s rng.
 */
export interface LayersSpec {
  kind: 'layers';
  /** 'Sequential' or 'Model' (a functional model), the class whose `fromConfig` reads `config`. */
  className: 'Sequential' | 'Model';
  config: unknown;
}

export type ModelSpec = MlpSpec | ConvSpec | EmbeddingBagSpec | LayersSpec;

/** A model that has a spec (the library's own models, and converted tfjs-layers models). */
export type ModelWithSpec<S extends ModelSpec = ModelSpec> = Model & { readonly spec: S };

export interface Model {
  /**
   * How to rebuild the model (in a worker thread, or from model.json). Optional: a hand-written
   * functional model trains and evaluates without one, but cannot be exported or run on threads.
   */
  readonly spec?: ModelSpec;
  /**
   * Set when tfjs would compute this model's second derivatives wrongly (or not at all): why, and
   * which layer. Second-order MAML refuses such a model rather than return a wrong meta-gradient.
   */
  readonly secondOrderUnsupported?: string;
  /** Shape of one example, without the batch dimension. */
  readonly inputShape: number[];
  readonly outputSize: number;
  /** True when an example's output depends on the rest of its batch (batch normalisation with batch statistics). */
  readonly batchStatistics: boolean;
  /** Fresh parameters drawn from `rng`. */
  init(rng: Rng): ParamSet;
  /** Forward pass: x has shape [batch, ...inputShape]; returns [batch, outputSize]. */
  apply(params: ParamSet, x: tf.Tensor, options?: ApplyOptions): tf.Tensor2D;
  /**
   * Several independent copies of the model at once (optional): every parameter has an extra
   * leading axis of T copies, x is [T, batch, ...inputShape], the result [T, batch, outputSize].
   * Copy t computes exactly what `apply` computes with copy t's parameters on x[t], in one set of
   * kernels instead of T (src/algorithms/stacked-inner-loop.ts adapts T tasks at once with it).
   */
  applyStacked?(params: ParamSet, x: tf.Tensor): tf.Tensor3D;
}
