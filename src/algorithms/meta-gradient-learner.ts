/**
 * What FOMAML and MAML share: per task, k minibatches (task-batches.ts) turn into an update
 * direction u_i for theta; the outer step is theta <- theta + eps * mean_i u_i (the same
 * interpolation Reptile does with u_i = phi_i - theta), or a meta-optimizer fed -mean_i u_i with
 * the annealed eps as its rate. Subclasses say how a task's minibatches become u_i.
 */
import { tf } from '../core/tf.js';
import { cloneParams, disposeParams, mapParams, meanParams, paramsFromHost, paramsToHostSync, type HostParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import type { Examples } from '../tasks/task.js';
import { disposeBatch, toBatch, type Batch } from './inner-loop.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import { taskBatchIndices, type TaskBatchIndices } from './task-batches.js';

export interface MetaGradientOptions {
  /** k: minibatches per task (k - 1 adaptation steps, then the meta-loss on the k-th). */
  innerIters: number;
  /** Examples per adaptation minibatch (and per final minibatch when there is no tail). */
  innerBatch: number;
  /** Tasks per meta-iteration. */
  metaBatch: number;
  innerOptimizer: Optimizer;
  /** Examples per class in the final minibatch, kept apart from the adaptation ones (the original's --foml-tail); 0 or omitted: none. */
  tailShots?: number;
  /** Outer update by a meta-optimizer fed -mean(u); by interpolation theta + eps mean(u) when omitted. */
  metaOptimizer?: Optimizer;
}

export interface TaskUpdate {
  /** u: the direction theta moves for this task (scaled like a step of the inner optimizer). */
  update: ParamSet;
  /** Sum of the losses of the task's minibatches. */
  lossSum: tf.Scalar;
}

export abstract class MetaGradientLearner implements MetaLearner {
  abstract readonly algorithm: string;
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  protected theta: ParamSet;
  private metaState: OptimizerState | undefined;

  constructor(
    protected readonly setup: MetaLearnerSetup,
    initialParams: ParamSet,
    protected readonly options: MetaGradientOptions,
  ) {
    for (const key of ['innerIters', 'innerBatch', 'metaBatch'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`${key} must be an integer >= 1, got ${options[key]}`);
    }
    const tail = options.tailShots ?? 0;
    if (!Number.isInteger(tail) || tail < 0) throw new RangeError(`tailShots must be an integer >= 0, got ${tail}`);
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

  /** u for one task from its k - 1 adaptation minibatches and its final one. */
  protected abstract taskUpdate(adaptation: readonly Batch[], final: Batch): TaskUpdate;

  /**
   * u for one task computed on the host (the fused MLP kernel), from its examples and minibatch
   * indices, or undefined to use `taskUpdate`. `theta` reads the meta-parameters to the host once
   * per meta-iteration.
   */
  protected hostTaskUpdate(_task: Examples, _indices: TaskBatchIndices, _theta: () => HostParams): { update: HostParams; lossSum: number } | undefined {
    return undefined;
  }

  metaStep(tasks: readonly Examples[], metaStepSize: number, rng: Rng): tf.Scalar {
    if (tasks.length !== this.tasksPerIteration) throw new Error(`${this.algorithm} expects ${this.tasksPerIteration} tasks per meta-iteration, got ${tasks.length}`);
    const { innerBatch, innerIters, tailShots = 0 } = this.options;
    const updates: ParamSet[] = [];
    const losses: tf.Scalar[] = [];
    let host: HostParams | undefined;
    const theta = () => (host ??= paramsToHostSync(this.theta));
    for (const task of tasks) {
      const indices = taskBatchIndices(this.setup.layout, task, innerBatch, innerIters, tailShots, rng);
      const onHost = this.hostTaskUpdate(task, indices, theta);
      if (onHost) {
        updates.push(paramsFromHost(onHost.update));
        losses.push(tf.scalar(onHost.lossSum));
        continue;
      }
      const adaptation = indices.adaptation.map((idx) => toBatch(this.setup.layout, task, idx));
      const final = toBatch(this.setup.layout, task, indices.final);
      const { update, lossSum } = this.taskUpdate(adaptation, final);
      adaptation.forEach(disposeBatch);
      disposeBatch(final);
      updates.push(update);
      losses.push(lossSum);
    }
    const mean = meanParams(updates);
    updates.forEach(disposeParams);
    this.setParams(this.outerUpdate(mean, metaStepSize));
    disposeParams(mean);
    const meanLoss = tf.tidy(() => tf.div(tf.addN(losses), tasks.length * innerIters)) as tf.Scalar;
    losses.forEach((l) => l.dispose());
    return meanLoss;
  }

  private outerUpdate(meanUpdate: ParamSet, metaStepSize: number): ParamSet {
    const { metaOptimizer } = this.options;
    if (!metaOptimizer) return mapParams(this.theta, (p, n) => tf.tidy(() => tf.add(p, tf.mul(meanUpdate[n], metaStepSize))));
    const g = mapParams(meanUpdate, (u) => tf.neg(u));
    const next = metaOptimizer.step(this.theta, g, this.metaState!, metaStepSize);
    disposeParams(g);
    disposeOptimizerState(this.metaState);
    this.metaState = next.state;
    return next.params;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return { meta: this.metaState };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if ('meta' in states && this.options.metaOptimizer) {
      disposeOptimizerState(this.metaState);
      this.metaState = states.meta;
    }
  }

  dispose(): void {
    disposeParams(this.theta);
    disposeOptimizerState(this.metaState);
    this.metaState = undefined;
  }
}
