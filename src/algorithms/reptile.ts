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
 *
 * `metaStepScale` gives some parameters their own meta-step, eps * scale (layer-wise meta-steps,
 * with the interpolation only): with `rateScale` on the inner optimizer, a layer can move slowly
 * within each task yet by a full step between them (docs/text.md).
 */
import { tf } from '../core/tf.js';
import { cloneParams, disposeParams, interpolate, mapParams, meanParams, paramsFromHost, subtract, type HostParams, type ParamSet } from '../core/params.js';
import { hostInterpolate, hostMean, hostSubtract } from '../core/host-params.js';
import type { Rng } from '../core/rng.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import { checkParamScales, scaleFor, type ParamScales } from '../nn/param-scales.js';
import type { Examples } from '../tasks/task.js';
import { adapt, disposeBatch, toBatch } from './inner-loop.js';
import { fusedInnerLoopFor } from './fused-inner-loop.js';
import type { FusedLoop } from '../kernels/fused-loop.js';
import { stateToHostSync } from '../parallel/host-state.js';
import { ParamStore, StateStore } from './param-store.js';
import { minibatchIndices } from '../tasks/task.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import type { AdaptBatchResult, AdaptJob, HostOptimizerState } from '../parallel/protocol.js';

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
  /**
   * Those semantics without an adapter, in this thread (implied by `adapter`): what the CLI's
   * `--workers n >= 1` runs when a fused kernel makes threads slower than one thread (the MLP's).
   */
  commonStartState?: boolean;
  /** Per-parameter multipliers of the meta-step (interpolation only; default: none). */
  metaStepScale?: ParamScales;
}

/** a + (b - a) eps, with each parameter's eps multiplied by its scale (the same bits as `interpolate` at scale 1). */
function interpolateScaled(a: ParamSet, b: ParamSet, eps: number, scales: ParamScales | undefined): ParamSet {
  if (!scales) return interpolate(a, b, eps);
  return mapParams(a, (x, n) => tf.tidy(() => tf.add(x, tf.mul(tf.sub(b[n], x), eps * scaleFor(scales, n)))));
}

/** `interpolateScaled` on host parameter sets. */
function hostInterpolateScaled(a: HostParams, b: HostParams, eps: number, scales: ParamScales | undefined): HostParams {
  if (!scales) return hostInterpolate(a, b, eps);
  const one = (p: HostParams, k: number): HostParams => ({ names: [p.names[k]], shapes: [p.shapes[k]], values: [p.values[k]] });
  const values = a.names.map((n, k) => hostInterpolate(one(a, k), one(b, k), eps * scaleFor(scales, n)).values[0]);
  return { names: a.names.slice(), shapes: a.shapes.map((s) => s.slice()), values };
}

/** The meta-gradient Reptile feeds a meta-optimizer: theta - mean_i phi_i. */
export function reptileMetaGradient(theta: ParamSet, adapted: readonly ParamSet[]): ParamSet {
  const mean = meanParams(adapted);
  const g = subtract(theta, mean);
  disposeParams(mean);
  return g;
}

/** The element-wise mean of host optimizer states that took the same number of steps. */
function hostMeanState(states: readonly HostOptimizerState[]): HostOptimizerState {
  const slots: HostOptimizerState['slots'] = {};
  for (const name of Object.keys(states[0].slots)) slots[name] = hostMean(states.map((s) => s.slots[name]));
  return { step: states[0].step, slots };
}

export class Reptile implements MetaLearner {
  readonly algorithm: string = 'reptile';
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  /** theta: tensors, or host arrays when the inner loop runs on the host (fused loop, workers). */
  private readonly theta: ParamStore;
  private readonly innerState = new StateStore();
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
    const { metaStepScale } = options;
    if (metaStepScale && Object.keys(metaStepScale).length > 0) {
      if (options.metaOptimizer) throw new RangeError('a meta-step scale needs the interpolation outer update, not a meta-optimizer');
      checkParamScales(metaStepScale, Object.keys(initialParams));
    }
    this.theta = new ParamStore(cloneParams(initialParams));
    this.metaState = options.metaOptimizer?.init(this.theta.device);
  }

  get params(): ParamSet {
    return this.theta.device;
  }

  setParams(params: ParamSet): void {
    this.theta.setDevice(params);
  }

  /** Each task with its inner minibatches, drawn in task order (so not depending on any thread). */
  private jobsFor(tasks: readonly Examples[], rng: Rng): AdaptJob[] {
    const { innerBatch, innerIters } = this.options;
    return tasks.map((task) => ({ ...task, batches: minibatchIndices(task.count, innerBatch, innerIters, rng) }));
  }

  private checkTaskCount(tasks: readonly Examples[]): void {
    if (tasks.length !== this.tasksPerIteration) throw new Error(`reptile expects ${this.tasksPerIteration} tasks per meta-iteration, got ${tasks.length}`);
  }

  /**
   * Adapts theta to one task with the tfjs inner loop: k inner steps. Returns phi and the summed
   * inner loss; with `commonStart`, the task starts from the meta-iteration's inner state (not the
   * previous task's) and its end state comes back instead of being kept.
   */
  protected adaptToTask(task: Examples, rng: Rng, commonStart = false): { phi: ParamSet; lossSum: tf.Scalar; end?: HostOptimizerState } {
    const { innerIters, innerBatch, innerOptimizer, persistInnerState = true } = this.options;
    const theta = this.theta.device;
    const batches = minibatchIndices(task.count, innerBatch, innerIters, rng).map((idx) => toBatch(this.setup.layout, task, idx));
    const persisted = persistInnerState ? this.innerState.device : undefined;
    const start = persisted ?? innerOptimizer.init(theta);
    const result = adapt(this.model, this.loss, innerOptimizer, theta, start, batches);
    batches.forEach(disposeBatch);
    let end: HostOptimizerState | undefined;
    if (persistInnerState && commonStart) {
      end = stateToHostSync(result.state);
      disposeOptimizerState(result.state);
    } else if (persistInnerState) this.innerState.setDevice(result.state); // disposes `persisted`
    else disposeOptimizerState(result.state);
    if (!persisted) disposeOptimizerState(start);
    return { phi: result.params, lossSum: result.lossSum, end };
  }

  metaStep(tasks: readonly Examples[], metaStepSize: number, rng: Rng): tf.Scalar {
    if (this.options.adapter) throw new Error('this Reptile adapts tasks in worker threads: call metaStepAsync');
    this.checkTaskCount(tasks);
    const { innerIters, innerOptimizer, persistInnerState = true, commonStartState = false } = this.options;
    const fused = fusedInnerLoopFor(this.model, this.loss, innerOptimizer, this.setup.layout);
    if (fused) {
      const jobs = this.jobsFor(tasks, rng);
      return this.fusedMetaStep(fused, jobs, metaStepSize, !persistInnerState ? 'fresh' : commonStartState ? 'common' : 'chain');
    }
    const adapted: ParamSet[] = [];
    const losses: tf.Scalar[] = [];
    const ends: HostOptimizerState[] = [];
    for (const task of tasks) {
      const { phi, lossSum, end } = this.adaptToTask(task, rng, commonStartState);
      adapted.push(phi);
      losses.push(lossSum);
      if (end) ends.push(end);
    }
    if (ends.length > 0) this.innerState.setHost(hostMeanState(ends));
    this.setParams(this.outerUpdate(adapted, metaStepSize));
    adapted.forEach(disposeParams);
    const meanLoss = tf.tidy(() => tf.div(tf.addN(losses), tasks.length * innerIters)) as tf.Scalar;
    losses.forEach((l) => l.dispose());
    return meanLoss;
  }

  /**
   * A meta-iteration in a fused kernel, in one call: theta, the inner state and the adapted
   * parameters stay in the kernel's memory, and the mean comes back (FusedLoop.adaptSequence).
   */
  private fusedMetaStep(fused: FusedLoop, jobs: readonly AdaptJob[], metaStepSize: number, inner: 'chain' | 'common' | 'fresh'): tf.Scalar {
    const r = fused.adaptSequence(this.theta.host, inner === 'fresh' ? undefined : this.innerState.host, jobs, inner);
    if (inner !== 'fresh') this.innerState.setHost(r.state);
    this.hostOuterUpdate(r.mean, metaStepSize);
    return tf.scalar(r.lossSum / (jobs.length * this.options.innerIters));
  }

  /** One meta-iteration with the tasks adapted by `options.adapter` (in parallel). */
  async metaStepAsync(tasks: readonly Examples[], metaStepSize: number, rng: Rng): Promise<tf.Scalar> {
    const { adapter, innerIters, persistInnerState = true } = this.options;
    if (!adapter) return this.metaStep(tasks, metaStepSize, rng);
    this.checkTaskCount(tasks);
    const jobs = this.jobsFor(tasks, rng);
    const fused = fusedInnerLoopFor(this.model, this.loss, this.options.innerOptimizer, this.setup.layout);
    // The pool's numbers, in this thread: with the fused MLP kernel one thread runs a meta-batch
    // faster than the pool (its messages, copies and reduction cost more than the tasks; docs/performance.md).
    if (fused && !fused.threadsHelp) return this.fusedMetaStep(fused, jobs, metaStepSize, persistInnerState ? 'common' : 'fresh');
    const start = persistInnerState ? this.innerState.host : undefined;
    const { results, lossSum } = await adapter.adapt(this.theta.host, start, jobs);
    this.hostOuterUpdate(hostMean(results.map((r) => r.phi)), metaStepSize);
    if (persistInnerState) this.innerState.setHost(hostMeanState(results.map((r) => r.state)));
    return tf.scalar(lossSum / (tasks.length * innerIters));
  }

  /** The outer update from the mean adapted parameters on the host: the same bits as `outerUpdate` (core/host-params.ts). */
  private hostOuterUpdate(mean: HostParams, metaStepSize: number): void {
    if (!this.options.metaOptimizer) {
      this.theta.setHost(hostInterpolateScaled(this.theta.host, mean, metaStepSize, this.options.metaStepScale));
      return;
    }
    const g = paramsFromHost(hostSubtract(this.theta.host, mean));
    this.theta.setDevice(this.metaOptimizerStep(g, metaStepSize));
    disposeParams(g);
  }

  private outerUpdate(adapted: readonly ParamSet[], metaStepSize: number): ParamSet {
    if (!this.options.metaOptimizer) {
      const mean = meanParams(adapted);
      const next = interpolateScaled(this.theta.device, mean, metaStepSize, this.options.metaStepScale);
      disposeParams(mean);
      return next;
    }
    const g = reptileMetaGradient(this.theta.device, adapted);
    const next = this.metaOptimizerStep(g, metaStepSize);
    disposeParams(g);
    return next;
  }

  private metaOptimizerStep(g: ParamSet, metaStepSize: number): ParamSet {
    const next = this.options.metaOptimizer!.step(this.theta.device, g, this.metaState!, metaStepSize);
    disposeOptimizerState(this.metaState);
    this.metaState = next.state;
    return next.params;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return { inner: this.innerState.device, meta: this.metaState };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if ('inner' in states) this.innerState.setDevice(states.inner);
    if ('meta' in states && this.options.metaOptimizer) {
      disposeOptimizerState(this.metaState);
      this.metaState = states.meta;
    }
  }

  dispose(): void {
    this.theta.dispose();
    this.innerState.dispose();
    disposeOptimizerState(this.metaState);
    this.metaState = undefined;
  }
}
