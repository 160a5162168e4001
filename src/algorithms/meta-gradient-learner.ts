/**
 * What Reptile, FOMAML and MAML share: per task, k minibatches turn into an update direction
 * u_i for theta, and the outer update (outer-update.ts) moves theta by eps * mean_i u_i, or
 * feeds -mean_i u_i to a meta-optimizer. The algorithms differ only in u:
 *   Reptile  u = phi - theta                      (phi: theta after k inner steps)
 *   FOMAML   u = phi_k - phi_{k-1}                (the last inner step alone)
 *   MAML     u = -lr * d L_k(phi_{k-1}) / d theta (through the inner steps)
 * Subclasses say how a meta-batch's tasks become mean_i u_i; inner loops run through the
 * inner-loop contract (core/inner-loop.ts), chosen by `innerLoop` or by the factory.
 */
import { cloneParams, type ParamSet } from '../core/params.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import type { InnerLoop, InnerStateMode } from '../core/inner-loop.js';
import type { Rng } from '../core/rng.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import { checkParamScales, type ParamScales } from '../nn/param-scales.js';
import type { Examples } from '../tasks/task.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import { applyOuterUpdate } from './outer-update.js';
import { selectInnerLoop, type KernelChoice } from './select-inner-loop.js';

export interface MetaGradientOptions {
  /** k: minibatches per task (Reptile: k inner steps; FOMAML/MAML: k - 1 steps, then the meta-loss on the k-th). */
  innerIters: number;
  /** Examples per inner minibatch. */
  innerBatch: number;
  /** n: tasks per meta-iteration. */
  metaBatch: number;
  innerOptimizer: Optimizer;
  /** FOMAML/MAML: examples per class in the final minibatch, kept apart from the adaptation ones (the original's --foml-tail); 0 or omitted: none. */
  tailShots?: number;
  /** Outer update by a meta-optimizer fed -mean(u); by the interpolation theta + eps mean(u) when omitted. */
  metaOptimizer?: Optimizer;
  /** Per-parameter multipliers of the meta-step (interpolation only; default: none). */
  metaStepScale?: ParamScales;
  /**
   * The inner optimizer's state across tasks (core/inner-loop.ts): 'chain' (default, the original
   * code's), 'common' (what threads adapting a meta-batch in parallel compute), 'fresh'.
   */
  innerState?: InnerStateMode;
  /** What adapts the tasks (default: the factory's choice, src/algorithms/select-inner-loop.ts). */
  innerLoop?: InnerLoop;
  /** The fused kernels the factory may choose when `innerLoop` is not given (default: all). */
  kernels?: KernelChoice;
}

export interface MeanUpdate {
  /** mean_i u_i, owned by the caller. */
  direction: ParamStore;
  /** Sum over tasks and minibatches of the minibatch losses. */
  lossSum: number;
}

export abstract class MetaGradientLearner implements MetaLearner {
  abstract readonly algorithm: string;
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  /** theta: tensors, or host arrays when the inner loop runs on the host. */
  protected readonly theta: ParamStore;
  /** The inner optimizer's state carried between meta-iterations (modes 'chain' and 'common'). */
  protected innerState: StateStore | undefined;
  /** Whether the learner keeps an inner optimizer state (checkpoints save it). */
  protected readonly keepsInnerState: boolean = true;
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
    const { metaStepScale } = options;
    if (metaStepScale && Object.keys(metaStepScale).length > 0) {
      if (options.metaOptimizer) throw new RangeError('a meta-step scale needs the interpolation outer update, not a meta-optimizer');
      checkParamScales(metaStepScale, Object.keys(initialParams));
    }
    this.model = setup.model;
    this.loss = setup.loss;
    this.tasksPerIteration = options.metaBatch;
    this.theta = ParamStore.ofDevice(cloneParams(initialParams));
    this.metaState = options.metaOptimizer?.init(this.theta.device);
  }

  get params(): ParamSet {
    return this.theta.device;
  }

  setParams(params: ParamSet): void {
    this.theta.setDevice(params);
  }

  protected get innerStateMode(): InnerStateMode {
    return this.options.innerState ?? 'chain';
  }

  /** The inner loop (asked of the factory each time: under a gradient tape it differs). */
  protected innerLoop(): InnerLoop {
    return this.options.innerLoop ?? selectInnerLoop(this.setup, this.options.innerOptimizer, { kernels: this.options.kernels });
  }

  /** Replaces the carried inner state, taking ownership of `state`. */
  protected carryInnerState(state: StateStore | undefined): void {
    if (state !== this.innerState) this.innerState?.dispose();
    this.innerState = state;
  }

  /** mean_i u_i over the meta-batch; `rng` orders the minibatches. */
  protected abstract meanUpdate(tasks: readonly Examples[], rng: Rng): Promise<MeanUpdate>;

  async metaStep(tasks: readonly Examples[], metaStepSize: number, rng: Rng): Promise<number> {
    if (tasks.length !== this.tasksPerIteration) throw new Error(`${this.algorithm} expects ${this.tasksPerIteration} tasks per meta-iteration, got ${tasks.length}`);
    const { direction, lossSum } = await this.meanUpdate(tasks, rng);
    this.metaState = applyOuterUpdate(this.theta, direction, metaStepSize, this.options, this.metaState);
    direction.dispose();
    return lossSum / (tasks.length * this.options.innerIters);
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return this.keepsInnerState ? { inner: this.innerState?.device, meta: this.metaState } : { meta: this.metaState };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if ('inner' in states && this.keepsInnerState) {
      this.innerState?.dispose();
      this.innerState = states.inner && StateStore.ofDevice(states.inner);
    }
    if ('meta' in states && this.options.metaOptimizer) {
      disposeOptimizerState(this.metaState);
      this.metaState = states.meta;
    }
  }

  dispose(): void {
    this.theta.dispose();
    this.innerState?.dispose();
    this.innerState = undefined;
    disposeOptimizerState(this.metaState);
    this.metaState = undefined;
  }
}
