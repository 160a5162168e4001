/**
 * Reptile (Nichol, Achiam & Schulman 2018).
 *
 *   for each meta-iteration:
 *     for each of n tasks:  phi_i = theta after k inner steps on task i     (SGD or Adam)
 *     theta <- theta + eps * mean_i (phi_i - theta)                         (Algorithm 2; n = 1 is Algorithm 1)
 *
 * It is the meta-gradient learner with u = phi - theta (meta-gradient-learner.ts); mean_i u_i is
 * computed as (mean_i phi_i) - theta, the interpolation's own arithmetic. A meta-optimizer is fed
 * g = theta - mean_i phi_i (so plain SGD with rate eps is the interpolation). The article's listing
 * sets the gradient to phi - theta, which walks theta away from the adapted weights; the sign here
 * is the one that moves theta towards them.
 *
 * The meta-batch's tasks are adapted in one call of the inner-loop contract, so the same code runs
 * them one after another in tfjs, in one fused kernel call, or on the worker pool's threads.
 * `metaStepScale` gives some parameters their own meta-step, eps * scale (layer-wise meta-steps):
 * with `rateScale` on the inner optimizer, a layer can move slowly within each task yet by a full
 * step between them (docs/text.md).
 */
import { disposeParams, meanParams, subtract, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import { minibatchIndices, type Examples } from '../tasks/task.js';
import { MetaGradientLearner, type MeanUpdate, type MetaGradientOptions } from './meta-gradient-learner.js';
import { difference } from './outer-update.js';

export type ReptileOptions = MetaGradientOptions;

/** The meta-gradient Reptile feeds a meta-optimizer: theta - mean_i phi_i. */
export function reptileMetaGradient(theta: ParamSet, adapted: readonly ParamSet[]): ParamSet {
  const mean = meanParams(adapted);
  const g = subtract(theta, mean);
  disposeParams(mean);
  return g;
}

export class Reptile extends MetaGradientLearner {
  readonly algorithm: string = 'reptile';

  protected async meanUpdate(tasks: readonly Examples[], rng: Rng): Promise<MeanUpdate> {
    const { innerBatch, innerIters } = this.options;
    // Every task's minibatches, drawn in task order (so not depending on any thread).
    const jobs = tasks.map((task) => ({ ...task, batches: minibatchIndices(task.count, innerBatch, innerIters, rng) }));
    const mode = this.innerStateMode;
    const adapted = await this.innerLoop().adaptTasks(this.theta, this.innerState, jobs, { mode });
    this.carryInnerState(adapted.state);
    const direction = difference(adapted.mean!, this.theta);
    adapted.mean!.dispose();
    return { direction, lossSum: adapted.lossSum };
  }
}
