/**
 * Reptile (Nichol, Achiam & Schulman 2018).
 *
 *   for each meta-iteration:
 *     for each of n tasks:  phi_i = theta after k inner steps on task i     (SGD or Adam)
 *     theta <- theta + eps * (mean_i phi_i - theta)                         (Algorithm 2; n = 1 is Algorithm 1)
 *
 * The outer update is either that interpolation or a meta-optimizer stepped with the
 * meta-gradient g = theta - mean_i phi_i (so plain SGD with rate eps is the interpolation).
 * The article's listing sets the gradient to phi - theta, which walks theta away from the
 * adapted weights; the sign here is the one that moves theta towards them.
 */
import { tf } from '../core/tf.js';
import { cloneParams, disposeParams, interpolate, meanParams, paramsFromHost, paramsToHost, subtract, type HostParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import type { Examples } from '../tasks/task.js';
import { adapt, disposeBatch, toBatch } from './inner-loop.js';
import { minibatchIndices } from '../tasks/task.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import type { AdaptBatchResult, AdaptJob, HostOptimizerState } from '../parallel/protocol.js';
import { stateFromHost, stateToHost } from '../parallel/host-state.js';

/** Runs the inner loop of many tasks elsewhere (src/parallel/worker-pool.ts AdaptPool). */
export interface TaskAdapter {
  adapt(theta: HostParams, state: HostOptimizerState | undefined, jobs: readonly AdaptJob[]): Promise<AdaptBatchResult>;
}

export interface ReptileOptions {
  /** k: inner steps per task. */
  innerIters: number;
  /** Examples per inner minibatch. */
  innerBatch: number;
  /** n: tasks per meta-iteration. */
  metaBatch: number;
  innerOptimizer: Optimizer;
  /** Keep the inner optimizer's state from task to task (the original code's behaviour). */
  persistInnerState?: boolean;
  /** Outer update by a meta-optimizer fed theta - mean(phi); by interpolation when omitted. */
  metaOptimizer?: Optimizer;
  /**
   * Adapt the tasks of a meta-batch in parallel (worker threads; use `metaStepAsync`). Then every
   * task of a meta-batch starts from the same inner optimizer state, and the next meta-iteration
   * continues from the average of their end states (the serial loop chains the state from task to
   * task instead, as the original code). The numbers do not depend on the number of workers.
   */
  adapter?: TaskAdapter;
}

/** The meta-gradient Reptile feeds a meta-optimizer: theta - mean_i phi_i. */
export function reptileMetaGradient(theta: ParamSet, adapted: readonly ParamSet[]): ParamSet {
  const mean = meanParams(adapted);
  const g = subtract(theta, mean);
  disposeParams(mean);
  return g;
}

/** The element-wise mean of optimizer states that took the same number of steps. */
function meanOptimizerState(states: readonly OptimizerState[]): OptimizerState {
  const slots: OptimizerState['slots'] = {};
  for (const name of Object.keys(states[0].slots)) slots[name] = meanParams(states.map((s) => s.slots[name]));
  return { step: states[0].step, slots };
}

export class Reptile implements MetaLearner {
  readonly algorithm: string = 'reptile';
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  private theta: ParamSet;
  private innerState: OptimizerState | undefined;
  private metaState: OptimizerState | undefined;

  constructor(
    private readonly setup: MetaLearnerSetup,
    initialParams: ParamSet,
    private readonly options: ReptileOptions,
  ) {
    for (const key of ['innerIters', 'innerBatch', 'metaBatch'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`${key} must be an integer >= 1, got ${options[key]}`);
    }
    this.model = setup.model;
    this.loss = setup.loss;
    this.tasksPerIteration = options.metaBatch;
    this.theta = cloneParams(initialParams);
    this.metaState = options.metaOptimizer?.init(this.theta);
  }

  get params(): ParamSet {
    return this.theta;
  }

  setParams(params: ParamSet): void {
    disposeParams(this.theta);
    this.theta = params;
  }

  /** Adapts theta to one task: k inner steps. Returns phi and the summed inner loss. */
  protected adaptToTask(task: Examples, rng: Rng): { phi: ParamSet; lossSum: tf.Scalar } {
    const { innerIters, innerBatch, innerOptimizer, persistInnerState = true } = this.options;
    const batches = minibatchIndices(task.count, innerBatch, innerIters, rng).map((idx) => toBatch(this.setup.layout, task, idx));
    const start = persistInnerState && this.innerState ? this.innerState : innerOptimizer.init(this.theta);
    const result = adapt(this.model, this.loss, innerOptimizer, this.theta, start, batches);
    batches.forEach(disposeBatch);
    disposeOptimizerState(start);
    this.innerState = persistInnerState ? result.state : undefined;
    if (!persistInnerState) disposeOptimizerState(result.state);
    return { phi: result.params, lossSum: result.lossSum };
  }

  metaStep(tasks: readonly Examples[], metaStepSize: number, rng: Rng): tf.Scalar {
    if (this.options.adapter) throw new Error('this Reptile adapts tasks in worker threads: call metaStepAsync');
    if (tasks.length !== this.tasksPerIteration) throw new Error(`reptile expects ${this.tasksPerIteration} tasks per meta-iteration, got ${tasks.length}`);
    const adapted: ParamSet[] = [];
    const losses: tf.Scalar[] = [];
    for (const task of tasks) {
      const { phi, lossSum } = this.adaptToTask(task, rng);
      adapted.push(phi);
      losses.push(lossSum);
    }
    this.setParams(this.outerUpdate(adapted, metaStepSize));
    adapted.forEach(disposeParams);
    const meanLoss = tf.tidy(() => tf.div(tf.addN(losses), tasks.length * this.options.innerIters)) as tf.Scalar;
    losses.forEach((l) => l.dispose());
    return meanLoss;
  }

  /** One meta-iteration with the tasks adapted by `options.adapter` (in parallel). */
  async metaStepAsync(tasks: readonly Examples[], metaStepSize: number, rng: Rng): Promise<tf.Scalar> {
    const { adapter, innerIters, innerBatch, persistInnerState = true } = this.options;
    if (!adapter) return this.metaStep(tasks, metaStepSize, rng);
    if (tasks.length !== this.tasksPerIteration) throw new Error(`reptile expects ${this.tasksPerIteration} tasks per meta-iteration, got ${tasks.length}`);
    // Minibatch orders are drawn here, in task order, so they do not depend on the workers.
    const jobs = tasks.map((task) => ({ ...task, batches: minibatchIndices(task.count, innerBatch, innerIters, rng) }));
    const start = persistInnerState && this.innerState ? await stateToHost(this.innerState) : undefined;
    const { results, lossSum } = await adapter.adapt(await paramsToHost(this.theta), start, jobs);
    const adapted = results.map((r) => paramsFromHost(r.phi));
    this.setParams(this.outerUpdate(adapted, metaStepSize));
    adapted.forEach(disposeParams);
    if (persistInnerState) {
      const ends = results.map((r) => stateFromHost(r.state));
      disposeOptimizerState(this.innerState);
      this.innerState = meanOptimizerState(ends);
      ends.forEach(disposeOptimizerState);
    }
    return tf.scalar(lossSum / (tasks.length * innerIters));
  }

  private outerUpdate(adapted: readonly ParamSet[], metaStepSize: number): ParamSet {
    const { metaOptimizer } = this.options;
    if (!metaOptimizer) {
      const mean = meanParams(adapted);
      const next = interpolate(this.theta, mean, metaStepSize);
      disposeParams(mean);
      return next;
    }
    const g = reptileMetaGradient(this.theta, adapted);
    const next = metaOptimizer.step(this.theta, g, this.metaState!, metaStepSize);
    disposeParams(g);
    disposeOptimizerState(this.metaState);
    this.metaState = next.state;
    return next.params;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return { inner: this.innerState, meta: this.metaState };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if ('inner' in states) {
      disposeOptimizerState(this.innerState);
      this.innerState = states.inner;
    }
    if ('meta' in states && this.options.metaOptimizer) {
      disposeOptimizerState(this.metaState);
      this.metaState = states.meta;
    }
  }

  dispose(): void {
    disposeParams(this.theta);
    disposeOptimizerState(this.innerState);
    disposeOptimizerState(this.metaState);
    this.innerState = undefined;
    this.metaState = undefined;
  }
}
