/**
 * Joint training for classification, the Reptile paper's baseline (section 5.3.2): pre-train one
 * classifier over ALL C training classes with their global labels, then at evaluation fine-tune
 * on each task's support set like every other algorithm.
 *
 * Pre-training uses the model's body (every layer but the last dense one) under a C-way last
 * layer, minibatches of `batchSize` examples from GlobalLabelBatches, and as many steps of the
 * inner optimizer as Reptile takes (meta-iterations x meta-batch x inner steps). `params` is the
 * N-way model the rest of the library expects: the pre-trained body and a new all-zero N-way last
 * layer. Zeros add no randomness (the seed alone still fixes the numbers) and treat the N labels
 * alike, which is right since a task's labels are an arbitrary order of its classes; the first
 * fine-tuning step moves the last layer, and the body's gradients follow from there.
 *
 * The C-way last layer is kept in optimizerStates() under `head`, so a checkpoint (whose params
 * are the N-way ones) resumes to exactly the same numbers.
 */
import { tf } from '../core/tf.js';
import { cloneParams, disposeParams, type ParamSet } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { buildModel } from '../nn/build.js';
import type { Model, ModelSpec } from '../nn/model.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import type { Examples } from '../tasks/task.js';
import type { GlobalLabelBatches } from '../tasks/global-label-batches.js';
import { disposeBatch, toBatch, trainStep } from './inner-loop.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';

export interface JointClassificationOptions {
  /** Gradient steps per meta-iteration (Reptile's metaBatch x innerIters, for an equal budget). */
  stepsPerIteration: number;
  batchSize: number;
  optimizer: Optimizer;
  /** Global-label minibatches over the training classes. */
  batches: GlobalLabelBatches;
}

/** The same model with `outputs` logits. */
export function withOutputs(spec: ModelSpec, outputs: number): ModelSpec {
  switch (spec.kind) {
    case 'mlp':
      return { ...spec, sizes: [...spec.sizes.slice(0, -1), outputs] };
    case 'conv':
    case 'embedding-bag':
      return { ...spec, classes: outputs };
  }
}

/** Names of the parameters whose shape depends on the number of outputs (the last dense layer). */
function headNames(narrow: Model, wide: Model): string[] {
  // Shapes only: a throwaway generator, and the values are disposed at once.
  const [a, b] = [narrow.init(Rng.fromSeed(0)), wide.init(Rng.fromSeed(0))];
  const names = Object.keys(a).filter((n) => a[n].shape.join() !== b[n].shape.join());
  disposeParams(a);
  disposeParams(b);
  return names;
}

export class JointClassification implements MetaLearner {
  readonly algorithm = 'joint';
  readonly model: Model;
  readonly loss;
  /** It reads no N-way tasks: its minibatches come from `options.batches`. */
  readonly tasksPerIteration = 0;
  private readonly wideModel: Model;
  private readonly head: string[];
  /** Body and C-way last layer, what pre-training updates. */
  private wide: ParamSet;
  private state: OptimizerState;
  /** Body and zero N-way last layer: `params`, rebuilt after every change of `wide`. */
  private narrow: ParamSet;

  constructor(private readonly setup: MetaLearnerSetup, initialParams: ParamSet, private readonly options: JointClassificationOptions) {
    if (setup.layout.kind !== 'classification') throw new Error('JointClassification needs a classification task distribution');
    this.model = setup.model;
    this.loss = setup.loss;
    this.wideModel = buildModel(withOutputs(setup.model.spec, options.batches.classCount));
    this.head = headNames(this.model, this.wideModel);
    const wideShapes = this.wideModel.init(Rng.fromSeed(0));
    // The body starts from the run's initialisation, the C-way layer from zeros (see above).
    this.wide = Object.fromEntries(Object.keys(initialParams).map((n) => [n, this.head.includes(n) ? tf.zerosLike(wideShapes[n]) : initialParams[n].clone()]));
    disposeParams(wideShapes);
    this.state = options.optimizer.init(this.wide);
    this.narrow = this.narrowParams();
  }

  get params(): ParamSet {
    return this.narrow;
  }

  /** Takes the body of an N-way parameter set (a checkpoint's); the C-way layer stays. */
  setParams(params: ParamSet): void {
    const next = Object.fromEntries(Object.keys(this.wide).map((n) => [n, this.head.includes(n) ? this.wide[n] : params[n]]));
    for (const n of Object.keys(this.wide)) if (!this.head.includes(n)) this.wide[n].dispose();
    for (const n of this.head) params[n].dispose();
    this.wide = next;
    this.refreshNarrow();
  }

  /** `stepsPerIteration` steps on global-label minibatches; the N-way `tasks` are not used. */
  metaStep(_tasks: readonly Examples[], _metaStepSize: number, rng: Rng): tf.Scalar {
    let lossSum = tf.scalar(0);
    for (let s = 0; s < this.options.stepsPerIteration; s++) {
      const batch = toBatch(this.setup.layout, this.options.batches.sample(rng, this.options.batchSize));
      const step = trainStep(this.wideModel, this.loss, this.options.optimizer, this.wide, this.state, batch);
      disposeBatch(batch);
      disposeParams(this.wide);
      disposeOptimizerState(this.state);
      this.wide = step.params;
      this.state = step.state;
      const total = tf.add(lossSum, step.loss) as tf.Scalar;
      lossSum.dispose();
      step.loss.dispose();
      lossSum = total;
    }
    this.refreshNarrow();
    const mean = tf.div(lossSum, this.options.stepsPerIteration) as tf.Scalar;
    lossSum.dispose();
    return mean;
  }

  /** Pre-training on C classes (for tests and diagnostics): the C-way logits of `x`. */
  applyWide(x: tf.Tensor): tf.Tensor2D {
    return this.wideModel.apply(this.wide, x, { training: true });
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    // `head` is not an optimizer's state but travels with them: the checkpoint's params are N-way.
    return { inner: this.state, head: { step: 0, slots: { params: Object.fromEntries(this.head.map((n) => [n, this.wide[n]])) } } };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if (states.inner) {
      disposeOptimizerState(this.state);
      this.state = states.inner;
    }
    const head = states.head?.slots.params;
    if (head) {
      const next = { ...this.wide };
      for (const n of this.head) {
        this.wide[n].dispose();
        next[n] = head[n];
      }
      this.wide = next;
      this.refreshNarrow();
    }
  }

  private narrowParams(): ParamSet {
    return Object.fromEntries(
      Object.keys(this.wide).map((n) => [n, this.head.includes(n) ? tf.zeros(this.narrowShape(n)) : this.wide[n].clone()]),
    );
  }

  private narrowShape(name: string): number[] {
    const shape = [...this.wide[name].shape];
    shape[shape.length - 1] = this.model.outputSize;
    return shape;
  }

  private refreshNarrow(): void {
    disposeParams(this.narrow);
    this.narrow = this.narrowParams();
  }

  dispose(): void {
    disposeParams(this.wide);
    disposeParams(this.narrow);
    disposeOptimizerState(this.state);
  }
}
