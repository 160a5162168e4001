/**
 * The "training from scratch" baseline (Reptile paper, section 5.3.2): no meta-training at all.
 * The parameters stay the random initialisation, and the evaluation protocol trains each test
 * task from them on its support set, with the same steps, minibatches and optimizer as every
 * other algorithm's evaluation.
 *
 * It still takes part in the training loop (so it has the same run directory, periodic metrics
 * and charts): each iteration reads one task and reports the loss of the unchanged
 * initialisation on one minibatch of it, a forward pass only.
 */
import { cloneParams, disposeParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { OptimizerState } from '../nn/optimizers.js';
import { minibatchIndices, type Examples } from '../tasks/task.js';
import { batchLoss, disposeBatch, toBatch } from './inner-loop.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';

export interface ScratchOptions {
  /** Examples in the minibatch whose loss is reported. */
  batchSize: number;
}

export class Scratch implements MetaLearner {
  readonly algorithm = 'scratch';
  readonly model;
  readonly loss;
  readonly tasksPerIteration = 1;
  private theta: ParamSet;

  constructor(private readonly setup: MetaLearnerSetup, initialParams: ParamSet, private readonly options: ScratchOptions) {
    this.model = setup.model;
    this.loss = setup.loss;
    this.theta = cloneParams(initialParams);
  }

  get params(): ParamSet {
    return this.theta;
  }

  setParams(params: ParamSet): void {
    disposeParams(this.theta);
    this.theta = params;
  }

  /** Leaves the parameters alone; returns the loss of the initialisation on a minibatch of the task. */
  async metaStep(tasks: readonly Examples[], _metaStepSize: number, rng: Rng): Promise<number> {
    const [indices] = minibatchIndices(tasks[0].count, this.options.batchSize, 1, rng);
    const batch = toBatch(this.setup.layout, tasks[0], indices);
    const value = batchLoss(this.model, this.loss, this.theta, batch);
    disposeBatch(batch);
    const loss = (await value.data())[0];
    value.dispose();
    return loss;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return {};
  }

  restoreOptimizerStates(): void {}

  dispose(): void {
    disposeParams(this.theta);
  }
}
