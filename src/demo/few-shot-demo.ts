/**
 * The few-shot page's model logic, browser-safe: adapt a run's meta-parameters to the user's
 * examples with `reptile eval`'s inner loop (adaptToSupport: same optimizer, rate, steps and
 * minibatches), then classify new drawings with eval's protocol (predictQueries:
 * non-transductive unless the run says otherwise, so batch norm sees the support set and one
 * query at a time).
 */
import { tf } from '../core/tf.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import { crossEntropy, type LossFn } from '../nn/losses.js';
import { adaptationLoop, adaptToSupport, type AdaptationOptions } from '../eval/adapt.js';
import type { ParamStore } from '../core/param-store.js';
import { queryLogits } from '../eval/classification.js';
import { disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import type { Examples, ExampleLayoutSource } from '../tasks/task.js';

/** Labelled examples: one Float32Array per example (the model's input, flattened). */
export interface LabelledExamples {
  x: Float32Array[];
  y: number[];
}

export interface AdaptationTiming {
  /** Milliseconds per adaptation step (total adaptation time, after a host read, / steps). */
  msPerStep: number;
  steps: number;
  /** What ran the steps: a fused kernel ('fused-mlp', 'fused-cnn-wasm', ...) or 'tfjs'. */
  innerLoop: string;
}

function toExamples(examples: LabelledExamples, size: number): Examples {
  const x = new Float32Array(examples.x.length * size);
  examples.x.forEach((e, i) => {
    if (e.length !== size) throw new RangeError(`an example has ${e.length} values, the model takes ${size}`);
    x.set(e, i * size);
  });
  return { count: examples.x.length, x, y: Int32Array.from(examples.y) };
}

export class FewShotDemo {
  readonly layout: ExampleLayoutSource;
  /** The loss of `reptile train` for classification: the sum of per-example cross-entropies. */
  readonly loss: LossFn = crossEntropy('sum');
  private adapted: ParamStore | undefined;
  private support: Examples | undefined;
  private readonly size: number;

  constructor(
    readonly model: Model,
    readonly metaParams: ParamSet,
    readonly adaptation: AdaptationOptions & { transductive: boolean },
  ) {
    this.layout = { inputShape: model.inputShape, targetShape: [], kind: 'classification' };
    this.size = model.inputShape.reduce((a, b) => a * b, 1);
  }

  get ways(): number {
    return this.model.outputSize;
  }

  /** The adapted parameters (the meta-parameters before adaptation); owned by this object. */
  get params(): ParamSet {
    return this.adapted?.device ?? this.metaParams;
  }

  get isAdapted(): boolean {
    return this.adapted !== undefined;
  }

  /** Adapts the meta-parameters to `support` (replacing an earlier adaptation). */
  async adapt(support: LabelledExamples, seed: number): Promise<AdaptationTiming> {
    if (support.x.length === 0) throw new RangeError('no examples to adapt to');
    const bad = support.y.find((y) => !Number.isInteger(y) || y < 0 || y >= this.ways);
    if (bad !== undefined) throw new RangeError(`label ${bad} is outside 0..${this.ways - 1}`);
    this.reset();
    const examples = toExamples(support, this.size);
    const innerLoop = adaptationLoop(this.model, this.loss, this.layout, this.adaptation).name;
    const started = performance.now();
    const adapted = await adaptToSupport(this.model, this.loss, this.layout, this.metaParams, examples, this.adaptation, Rng.fromSeed(seed));
    // Backends such as WebGL run asynchronously: wait for the last step's result before timing.
    const first = Object.values(adapted.device)[0];
    await first.data();
    const ms = performance.now() - started;
    this.adapted = adapted;
    this.support = examples;
    return { msPerStep: ms / Math.max(1, this.adaptation.evalIters), steps: this.adaptation.evalIters, innerLoop };
  }

  /** Predicted classes and probabilities of `queries`, with the adapted parameters (or the meta-parameters before adaptation). */
  async classify(queries: Float32Array[], support: LabelledExamples | undefined = undefined): Promise<{ classes: number[]; probabilities: number[][] }> {
    if (queries.length === 0) return { classes: [], probabilities: [] };
    const params = this.params;
    const supportExamples = this.adapted ? this.support! : support ? toExamples(support, this.size) : { count: 0, x: new Float32Array(0), y: new Int32Array(0) };
    const queryBatch = toBatch(this.layout, { count: queries.length, x: toExamples({ x: queries, y: queries.map(() => 0) }, this.size).x, y: new Int32Array(queries.length) });
    const supportBatch = supportExamples.count > 0 ? toBatch(this.layout, supportExamples) : undefined;
    const probsT = tf.tidy(() => {
      const sx = supportBatch?.x ?? tf.zeros([0, ...this.model.inputShape]);
      return tf.softmax(queryLogits(this.model, params, sx, queryBatch.x, this.adaptation.transductive));
    });
    disposeBatch(queryBatch);
    if (supportBatch) disposeBatch(supportBatch);
    const flat = await probsT.data();
    probsT.dispose();
    const probabilities = queries.map((_, i) => Array.from(flat.slice(i * this.ways, (i + 1) * this.ways)));
    // The argmax of the same logits eval's predictQueries takes.
    const classes = probabilities.map((p) => p.indexOf(Math.max(...p)));
    return { classes, probabilities };
  }

  /** Accuracy on labelled held-out examples (a fraction 0..1). */
  async accuracy(heldOut: LabelledExamples, support?: LabelledExamples): Promise<number> {
    const { classes } = await this.classify(heldOut.x, support);
    return classes.filter((c, i) => c === heldOut.y[i]).length / Math.max(1, classes.length);
  }

  /** Forgets the adaptation (back to the meta-parameters). */
  reset(): void {
    this.adapted?.dispose();
    this.adapted = undefined;
    this.support = undefined;
  }

  dispose(): void {
    this.reset();
    disposeParams(this.metaParams);
  }
}
