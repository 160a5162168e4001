/**
 * A classifier for a user's own intents from a handful of labelled examples (browser-safe): the
 * meta-trained embedding-bag model's head is fitted to the user's number of intents, the model is
 * adapted on the examples exactly as at evaluation (src/eval/adapt.ts: a fresh inner optimizer,
 * evalIters steps on minibatches of evalBatch), and new texts get the most probable intent.
 *
 * Head: a meta-trained N-way head has one output column per (randomly assigned) class slot. For
 * K <= N intents the first K columns are kept; for K > N the extra columns start as the mean of
 * the N (Reptile's head is nearly symmetric in the slots, as labels are shuffled per task).
 */
import { tf } from '../core/tf.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { embeddingBag, type EmbeddingBagSpec } from '../nn/embedding-bag.js';
import type { Model } from '../nn/model.js';
import { crossEntropy } from '../nn/losses.js';
import { adaptToSupport, type AdaptationOptions } from '../eval/adapt.js';
import type { LabelledText } from '../data/text.js';
import { tokenizer } from './tokenizer.js';

export interface Prediction {
  label: string;
  probability: number;
}

export interface IntentClassifier {
  /** The intents, in order of first appearance among the examples. */
  readonly labels: string[];
  classify(texts: readonly string[]): Promise<Prediction[]>;
  dispose(): void;
}

/** The model and parameters with a head of `classes` outputs (new tensors; `params` is left alone). */
export function resizeHead(spec: EmbeddingBagSpec, params: ParamSet, classes: number): { model: Model; params: ParamSet } {
  const last = spec.hidden.length;
  const kernelName = `dense${last}/kernel`;
  const biasName = `dense${last}/bias`;
  const n = spec.classes;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, p] of Object.entries(params)) {
    if (name !== kernelName && name !== biasName) out[name] = p.clone();
  }
  tf.tidy(() => {
    const kernel = params[kernelName] as tf.Tensor2D;
    const bias = params[biasName] as tf.Tensor1D;
    if (classes <= n) {
      out[kernelName] = tf.keep(tf.slice(kernel, [0, 0], [-1, classes]));
      out[biasName] = tf.keep(tf.slice(bias, 0, classes));
    } else {
      const extra = classes - n;
      out[kernelName] = tf.keep(tf.concat([kernel, tf.tile(tf.mean(kernel, 1, true), [1, extra])], 1));
      out[biasName] = tf.keep(tf.concat([bias, tf.tile(tf.mean(bias, 0, true), [extra])], 0));
    }
  });
  // Same parameter order as the model's own init (embedding, dense0..).
  const ordered: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(params)) ordered[name] = out[name];
  return { model: embeddingBag({ ...spec, classes }), params: ordered };
}

export async function adaptIntentClassifier(spec: EmbeddingBagSpec, metaParams: ParamSet, examples: readonly LabelledText[], options: AdaptationOptions, rng: Rng): Promise<IntentClassifier> {
  const labels = [...new Set(examples.map((e) => e.label))];
  if (labels.length < 2) throw new RangeError(`the examples name ${labels.length} intent${labels.length === 1 ? '' : 's'}; at least 2 are needed`);
  const tok = tokenizer(spec.tokenizer);
  const size = spec.tokenizer.buckets;
  const bags = (texts: readonly string[]) => {
    const x = new Float32Array(texts.length * size);
    texts.forEach((t, i) => tok.bagInto(t, x, i * size));
    return x;
  };
  const { model, params: resized } = resizeHead(spec, metaParams, labels.length);
  const layout = { inputShape: model.inputShape, targetShape: [], kind: 'classification' as const };
  const support = { count: examples.length, x: bags(examples.map((e) => e.text)), y: Int32Array.from(examples.map((e) => labels.indexOf(e.label))) };
  // The store owns what adaptation made; with no steps it is a view of `resized`, kept until dispose.
  const store = await adaptToSupport(model, crossEntropy('sum'), layout, resized, support, options, rng);
  const adapted = store.device;
  if (adapted !== resized) disposeParams(resized);
  return {
    labels,
    async classify(texts) {
      const out: Prediction[] = [];
      // In chunks, so that a long input never makes one huge batch.
      for (let start = 0; start < texts.length; start += 256) {
        const chunk = texts.slice(start, start + 256);
        const probs = tf.tidy(() => tf.softmax(model.apply(adapted, tf.tensor2d(bags(chunk), [chunk.length, size]))));
        const values = await probs.data();
        probs.dispose();
        for (let i = 0; i < chunk.length; i++) {
          const row = values.subarray(i * labels.length, (i + 1) * labels.length);
          let best = 0;
          for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
          out.push({ label: labels[best], probability: row[best] });
        }
      }
      return out;
    },
    dispose() {
      store.dispose();
      if (adapted === resized) disposeParams(resized);
    },
  };
}
