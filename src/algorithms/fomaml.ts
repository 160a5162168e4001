/**
 * First-order MAML as openai/supervised-reptile's FOMLReptile defines it (the Reptile paper's
 * g_FOMAML): k - 1 inner steps from theta give phi_{k-1}; one more step on the final minibatch
 * gives phi_k; the task's update is u = phi_k - phi_{k-1}, the last step alone (with plain SGD,
 * -lr * gradient of the final minibatch's loss at the adapted weights). Then
 * theta <- theta + eps * mean_i u_i. With the original's --foml-tail the final minibatch is a
 * few examples per class held apart from the adaptation minibatches.
 *
 * Any inner optimizer works (Adam included: u is then Adam's last step); as in the original
 * and in Reptile, its state runs on from task to task ('chain') unless `innerState` is 'fresh'.
 * Both inner loops of a task go through the inner-loop contract, so a fused kernel runs them.
 */
import type { Rng } from '../core/rng.js';
import type { ParamStore } from '../core/param-store.js';
import type { ParamSet } from '../core/params.js';
import type { Examples } from '../tasks/task.js';
import { MetaGradientLearner, type MeanUpdate, type MetaGradientOptions } from './meta-gradient-learner.js';
import type { MetaLearnerSetup } from './meta-learner.js';
import { difference, meanOf } from './outer-update.js';
import { taskBatchIndices } from './task-batches.js';

export type FomamlOptions = MetaGradientOptions;

export class Fomaml extends MetaGradientLearner {
  readonly algorithm: string = 'fomaml';

  constructor(setup: MetaLearnerSetup, initialParams: ParamSet, options: FomamlOptions) {
    if (options.innerState === 'common') throw new RangeError("FOMAML adapts its tasks one after another: its inner state is 'chain' or 'fresh'");
    super(setup, initialParams, options);
  }

  protected async meanUpdate(tasks: readonly Examples[], rng: Rng): Promise<MeanUpdate> {
    const { innerBatch, innerIters, tailShots = 0 } = this.options;
    const loop = this.innerLoop();
    const updates: ParamStore[] = [];
    let lossSum = 0;
    for (const task of tasks) {
      const indices = taskBatchIndices(this.setup.layout, task, innerBatch, innerIters, tailShots, rng);
      const adapted = await loop.adaptTasks(this.theta, this.innerState, [{ ...task, batches: indices.adaptation }], { mode: 'chain' });
      const last = await loop.adaptTasks(adapted.mean!, adapted.state, [{ ...task, batches: [indices.final] }], { mode: 'chain' });
      updates.push(difference(last.mean!, adapted.mean!));
      lossSum += adapted.lossSum + last.lossSum;
      adapted.mean!.dispose();
      adapted.state?.dispose();
      last.mean!.dispose();
      if (this.innerStateMode === 'fresh') last.state?.dispose();
      else this.carryInnerState(last.state);
    }
    const direction = meanOf(updates);
    updates.forEach((u) => u.dispose());
    return { direction, lossSum };
  }
}
