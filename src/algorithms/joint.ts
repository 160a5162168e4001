/**
 * Joint training, the baseline Reptile is compared with: plain training of one set of weights
 * on examples of random tasks, with the same number of gradient steps as Reptile takes
 * (meta-iterations x meta-batch x inner steps), then the same adaptation at evaluation. Each
 * step sees a minibatch from a freshly sampled task, so it minimises the expected loss over
 * tasks (what Reptile reduces to with one inner step).
 *
 * A meta-iteration's steps are one job of the inner-loop contract (their tasks' examples side by
 * side, one minibatch from each in turn), so a fused kernel runs them in one call.
 */
import { cloneParams, type ParamSet } from '../core/params.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import type { AdaptJob, InnerLoop } from '../core/inner-loop.js';
import type { Rng } from '../core/rng.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import { minibatchIndices, type Examples } from '../tasks/task.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import { selectInnerLoop, type KernelChoice } from './select-inner-loop.js';

export interface JointTrainingOptions {
  /** Gradient steps per meta-iteration (Reptile's metaBatch x innerIters, for an equal budget). */
  stepsPerIteration: number;
  batchSize: number;
  optimizer: Optimizer;
  /** What runs the steps (default: the factory's choice). */
  innerLoop?: InnerLoop;
  kernels?: KernelChoice;
}

/** One job whose steps are one minibatch of each part in turn: the parts' examples side by side. */
export function sequenceJob(parts: readonly { examples: Examples; batch: readonly number[] }[]): AdaptJob {
  const count = parts.reduce((n, p) => n + p.examples.count, 0);
  const first = parts[0].examples;
  const x = new Float32Array(count * (first.x.length / first.count));
  const y = first.y instanceof Int32Array ? new Int32Array(count * (first.y.length / first.count)) : new Float32Array(count * (first.y.length / first.count));
  const batches: number[][] = [];
  let offset = 0;
  let at = { x: 0, y: 0 };
  for (const { examples, batch } of parts) {
    x.set(examples.x, at.x);
    y.set(examples.y, at.y);
    batches.push(batch.map((i) => i + offset));
    offset += examples.count;
    at = { x: at.x + examples.x.length, y: at.y + examples.y.length };
  }
  return { count, x, y, batches };
}

export class JointTraining implements MetaLearner {
  readonly algorithm = 'joint';
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  private theta: ParamStore;
  private state: StateStore | undefined;

  constructor(private readonly setup: MetaLearnerSetup, initialParams: ParamSet, private readonly options: JointTrainingOptions) {
    this.model = setup.model;
    this.loss = setup.loss;
    this.tasksPerIteration = options.stepsPerIteration;
    this.theta = ParamStore.ofDevice(cloneParams(initialParams));
    this.state = StateStore.ofDevice(options.optimizer.init(this.theta.device));
  }

  get params(): ParamSet {
    return this.theta.device;
  }

  setParams(params: ParamSet): void {
    this.theta.setDevice(params);
  }

  /** One step per task; the step size of the schedule does not apply (the optimizer's rate does). */
  async metaStep(tasks: readonly Examples[], _metaStepSize: number, rng: Rng): Promise<number> {
    const job = sequenceJob(tasks.map((examples) => ({ examples, batch: minibatchIndices(examples.count, this.options.batchSize, 1, rng)[0] })));
    const loop = this.options.innerLoop ?? selectInnerLoop(this.setup, this.options.optimizer, { kernels: this.options.kernels });
    const r = await loop.adaptTasks(this.theta, this.state, [job], { mode: 'chain' });
    this.theta.dispose();
    this.state?.dispose();
    this.theta = r.mean!;
    this.state = r.state;
    return r.lossSum / tasks.length;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return { inner: this.state?.device };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if (!states.inner) return;
    this.state?.dispose();
    this.state = StateStore.ofDevice(states.inner);
  }

  dispose(): void {
    this.theta.dispose();
    this.state?.dispose();
  }
}
