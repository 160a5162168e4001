/**
 * First-order MAML as openai/supervised-reptile's FOMLReptile defines it (the Reptile paper's
 * g_FOMAML): k - 1 inner steps from theta give phi_{k-1}; one more step on the final minibatch
 * gives phi_k; the task's update is u = phi_k - phi_{k-1}, the last step alone (with plain SGD,
 * -lr * gradient of the final minibatch's loss at the adapted weights). Then
 * theta <- theta + eps * mean_i u_i. With the original's --foml-tail the final minibatch is a
 * few examples per class held apart from the adaptation minibatches.
 *
 * Any inner optimizer works (Adam included: u is then Adam's last step); as in the original
 * and in Reptile, its state persists from task to task unless `persistInnerState` is false.
 */
import { tf } from '../core/tf.js';
import { disposeParams, subtract, type ParamSet } from '../core/params.js';
import { disposeOptimizerState, type OptimizerState } from '../nn/optimizers.js';
import { adapt, trainStep, type Batch } from './inner-loop.js';
import { MetaGradientLearner, type MetaGradientOptions, type TaskUpdate } from './meta-gradient-learner.js';
import { fusedInnerLoopFor } from './fused-inner-loop.js';
import { StateStore } from './param-store.js';
import type { TaskBatchIndices } from './task-batches.js';
import { hostSubtract } from '../core/host-params.js';
import type { HostParams } from '../core/params.js';
import type { Examples } from '../tasks/task.js';
import type { MetaLearnerSetup } from './meta-learner.js';

export interface FomamlOptions extends MetaGradientOptions {
  /** Keep the inner optimizer's state from task to task (the original code's behaviour). */
  persistInnerState?: boolean;
}

export class Fomaml extends MetaGradientLearner {
  readonly algorithm: string = 'fomaml';
  /** Tensors, or host arrays while the fused MLP kernel adapts (param-store.ts). */
  private readonly innerState = new StateStore();
  private readonly persist: boolean;

  constructor(setup: MetaLearnerSetup, initialParams: ParamSet, options: FomamlOptions) {
    super(setup, initialParams, options);
    this.persist = options.persistInnerState ?? true;
  }

  /** With the fused MLP kernel: k - 1 steps, then the last one, each one call; u = phi_k - phi_{k-1}. */
  protected override hostTaskUpdate(task: Examples, indices: TaskBatchIndices, theta: () => HostParams): { update: HostParams; lossSum: number } | undefined {
    const fused = fusedInnerLoopFor(this.model, this.loss, this.options.innerOptimizer, this.setup.layout);
    if (!fused) return undefined;
    const start = this.persist ? this.innerState.host : undefined;
    const adapted = fused.adapt(theta(), start, { ...task, batches: indices.adaptation });
    const last = fused.adapt(adapted.phi, adapted.state, { ...task, batches: [indices.final] });
    this.innerState.setHost(this.persist ? last.state : undefined);
    return { update: hostSubtract(last.phi, adapted.phi), lossSum: adapted.lossSum + last.lossSum };
  }

  protected taskUpdate(adaptation: readonly Batch[], final: Batch): TaskUpdate {
    const { innerOptimizer } = this.options;
    const persisted = this.persist ? this.innerState.device : undefined;
    const start = persisted ?? innerOptimizer.init(this.theta);
    const adapted = adapt(this.model, this.loss, innerOptimizer, this.theta, start, adaptation);
    if (!persisted) disposeOptimizerState(start);
    const last = trainStep(this.model, this.loss, innerOptimizer, adapted.params, adapted.state, final);
    const update = subtract(last.params, adapted.params);
    disposeParams(adapted.params);
    disposeParams(last.params);
    disposeOptimizerState(adapted.state);
    if (this.persist) this.innerState.setDevice(last.state); // disposes `persisted`
    else disposeOptimizerState(last.state);
    const lossSum = tf.add(adapted.lossSum, last.loss) as tf.Scalar;
    adapted.lossSum.dispose();
    last.loss.dispose();
    return { update, lossSum };
  }

  override optimizerStates(): Record<string, OptimizerState | undefined> {
    return { ...super.optimizerStates(), inner: this.innerState.device };
  }

  override restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    super.restoreOptimizerStates(states);
    if ('inner' in states) this.innerState.setDevice(states.inner);
  }

  override dispose(): void {
    super.dispose();
    this.innerState.dispose();
  }
}
