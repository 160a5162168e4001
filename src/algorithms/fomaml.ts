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
import type { MetaLearnerSetup } from './meta-learner.js';

export interface FomamlOptions extends MetaGradientOptions {
  /** Keep the inner optimizer's state from task to task (the original code's behaviour). */
  persistInnerState?: boolean;
}

export class Fomaml extends MetaGradientLearner {
  readonly algorithm: string = 'fomaml';
  private innerState: OptimizerState | undefined;
  private readonly persist: boolean;

  constructor(setup: MetaLearnerSetup, initialParams: ParamSet, options: FomamlOptions) {
    super(setup, initialParams, options);
    this.persist = options.persistInnerState ?? true;
  }

  protected taskUpdate(adaptation: readonly Batch[], final: Batch): TaskUpdate {
    const { innerOptimizer } = this.options;
    const start = this.persist && this.innerState ? this.innerState : innerOptimizer.init(this.theta);
    const adapted = adapt(this.model, this.loss, innerOptimizer, this.theta, start, adaptation);
    disposeOptimizerState(start);
    const last = trainStep(this.model, this.loss, innerOptimizer, adapted.params, adapted.state, final);
    const update = subtract(last.params, adapted.params);
    disposeParams(adapted.params);
    disposeParams(last.params);
    disposeOptimizerState(adapted.state);
    this.innerState = this.persist ? last.state : undefined;
    if (!this.persist) disposeOptimizerState(last.state);
    const lossSum = tf.add(adapted.lossSum, last.loss) as tf.Scalar;
    adapted.lossSum.dispose();
    last.loss.dispose();
    return { update, lossSum };
  }

  override optimizerStates(): Record<string, OptimizerState | undefined> {
    return { ...super.optimizerStates(), inner: this.innerState };
  }

  override restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    super.restoreOptimizerStates(states);
    if ('inner' in states) {
      disposeOptimizerState(this.innerState);
      this.innerState = states.inner;
    }
  }

  override dispose(): void {
    super.dispose();
    disposeOptimizerState(this.innerState);
    this.innerState = undefined;
  }
}
