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
import { disposeParams, type ParamSet } from '../core/params.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import { Rng } from '../core/rng.js';
import { buildModel } from '../nn/build.js';
import type { LayersSpec, Model, ModelSpec } from '../nn/model.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import type { Examples } from '../tasks/task.js';
import type { GlobalLabelBatches } from '../tasks/global-label-batches.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import { selectInnerLoop, type KernelChoice } from './select-inner-loop.js';
import { sequenceJob } from './joint.js';

export interface JointClassificationOptions {
  /** Gradient steps per meta-iteration (Reptile's metaBatch x innerIters, for an equal budget). */
  stepsPerIteration: number;
  batchSize: number;
  optimizer: Optimizer;
  /** Global-label minibatches over the training classes. */
  batches: GlobalLabelBatches;
  /** The fused kernels the inner-loop factory may choose for the C-way model (default: all). */
  kernels?: KernelChoice;
}

/** The same model with `outputs` logits (built from its spec: a model without one cannot be widened). */
export function withOutputs(spec: ModelSpec | undefined, outputs: number): ModelSpec {
  if (!spec) throw new Error(`joint training pre-trains a copy of the model with ${outputs} outputs, built from the model's spec, and this model has none`);
  switch (spec.kind) {
    case 'layers':
      return withLayersOutputs(spec, outputs);
    case 'mlp':
      return { ...spec, sizes: [...spec.sizes.slice(0, -1), outputs] };
    case 'conv':
    case 'embedding-bag':
      return { ...spec, classes: outputs };
  }
}

/** A converted tfjs-layers model with its output layer (which must be Dense) widened to `outputs` units. */
function withLayersOutputs(spec: LayersSpec, outputs: number): LayersSpec {
  type LayerConfig = { className: string; name?: string; config: { name: string; units?: number } };
  const config = structuredClone(spec.config) as { layers: LayerConfig[]; outputLayers?: [string, number, number][] };
  const name = spec.className === 'Sequential' ? undefined : config.outputLayers?.[0]?.[0];
  const output = name === undefined ? config.layers.at(-1) : config.layers.find((l) => l.config.name === name);
  if (!output || output.className !== 'Dense') throw new Error(`joint training widens the model's output layer, which must be Dense; this model's is ${output?.className ?? 'missing'}`);
  output.config.units = outputs;
  return { ...spec, config };
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
  private wide: ParamStore;
  private state: StateStore;
  /** Body and zero N-way last layer: `params`, made from `wide` when asked for after a change. */
  private narrow: ParamSet | undefined;

  constructor(private readonly setup: MetaLearnerSetup, initialParams: ParamSet, private readonly options: JointClassificationOptions) {
    if (setup.layout.kind !== 'classification') throw new Error('JointClassification needs a classification task distribution');
    this.model = setup.model;
    this.loss = setup.loss;
    this.wideModel = buildModel(withOutputs(setup.model.spec, options.batches.classCount));
    this.head = headNames(this.model, this.wideModel);
    const wideShapes = this.wideModel.init(Rng.fromSeed(0));
    // The body starts from the run's initialisation, the C-way layer from zeros (see above).
    this.wide = ParamStore.ofDevice(Object.fromEntries(Object.keys(initialParams).map((n) => [n, this.head.includes(n) ? tf.zerosLike(wideShapes[n]) : initialParams[n].clone()])));
    disposeParams(wideShapes);
    this.state = StateStore.ofDevice(options.optimizer.init(this.wide.device));
  }

  get params(): ParamSet {
    return (this.narrow ??= this.narrowParams());
  }

  /** Takes the body of an N-way parameter set (a checkpoint's); the C-way layer stays. */
  setParams(params: ParamSet): void {
    this.replaceWide((n) => (this.head.includes(n) ? undefined : params[n]));
    for (const n of this.head) params[n].dispose();
  }

  /** `stepsPerIteration` steps on global-label minibatches (one job of the inner loop); the N-way `tasks` are not used. */
  async metaStep(_tasks: readonly Examples[], _metaStepSize: number, rng: Rng): Promise<number> {
    const parts = Array.from({ length: this.options.stepsPerIteration }, () => {
      const examples = this.options.batches.sample(rng, this.options.batchSize);
      return { examples, batch: Array.from({ length: examples.count }, (_, i) => i) };
    });
    const setup = { model: this.wideModel, loss: this.loss, layout: this.setup.layout };
    const r = await selectInnerLoop(setup, this.options.optimizer, { kernels: this.options.kernels }).adaptTasks(this.wide, this.state, [sequenceJob(parts)], { mode: 'chain' });
    this.wide.dispose();
    this.state.dispose();
    this.wide = r.mean!;
    this.state = r.state!;
    this.dropNarrow();
    return r.lossSum / this.options.stepsPerIteration;
  }

  /** Pre-training on C classes (for tests and diagnostics): the C-way logits of `x`. */
  applyWide(x: tf.Tensor): tf.Tensor2D {
    return this.wideModel.apply(this.wide.device, x, { training: true });
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    // `head` is not an optimizer's state but travels with them: the checkpoint's params are N-way.
    const wide = this.wide.device;
    return { inner: this.state.device, head: { step: 0, slots: { params: Object.fromEntries(this.head.map((n) => [n, wide[n]])) } } };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if (states.inner) this.state.setDevice(states.inner);
    const head = states.head?.slots.params;
    if (head) this.replaceWide((n) => (this.head.includes(n) ? head[n] : undefined));
  }

  /** The wide parameters with those `take` gives replaced (owned from now on), the others kept. */
  private replaceWide(take: (name: string) => tf.Tensor | undefined): void {
    const old = this.wide.device;
    const next = Object.fromEntries(Object.keys(old).map((n) => [n, take(n) ?? old[n].clone()]));
    this.wide.setDevice(next);
    this.dropNarrow();
  }

  private narrowParams(): ParamSet {
    const wide = this.wide.device;
    return Object.fromEntries(Object.keys(wide).map((n) => [n, this.head.includes(n) ? tf.zeros(this.narrowShape(wide[n].shape)) : wide[n].clone()]));
  }

  private narrowShape(wideShape: readonly number[]): number[] {
    const shape = [...wideShape];
    shape[shape.length - 1] = this.model.outputSize;
    return shape;
  }

  private dropNarrow(): void {
    disposeParams(this.narrow);
    this.narrow = undefined;
  }

  dispose(): void {
    this.wide.dispose();
    this.dropNarrow();
    this.state.dispose();
  }
}
