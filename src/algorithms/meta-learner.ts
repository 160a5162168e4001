/**
 * What every algorithm looks like to the training loop, the evaluator and the CLI, so that
 * swapping Reptile for another algorithm is a one-line change.
 */
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import type { Examples, ExampleLayoutSource } from '../tasks/task.js';

export interface MetaLearnerSetup {
  model: Model;
  loss: LossFn;
  /** Shapes and target type of the task distribution's examples. */
  layout: ExampleLayoutSource;
}

export interface MetaLearner {
  readonly algorithm: string;
  readonly model: Model;
  readonly loss: LossFn;
  /** Meta-parameters (owned by the learner: read them, do not dispose them). */
  readonly params: ParamSet;
  /** Tasks one meta-iteration consumes. */
  readonly tasksPerIteration: number;
  /**
   * One meta-iteration on `tasks` with outer step size `metaStepSize`; `rng` orders the
   * minibatches. Resolves to the mean inner minibatch loss.
   */
  metaStep(tasks: readonly Examples[], metaStepSize: number, rng: Rng): Promise<number>;
  /** Everything a checkpoint needs besides the meta-parameters (read them, do not dispose them). */
  optimizerStates(): Record<string, OptimizerState | undefined>;
  /** Restores states saved from `optimizerStates()` (the learner takes ownership; missing keys stay as they are). */
  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void;
  /** Replaces the meta-parameters (the learner takes ownership of `params`). */
  setParams(params: ParamSet): void;
  dispose(): void;
}

export type { Optimizer };
