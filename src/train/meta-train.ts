/**
 * The meta-training loop shared by every algorithm: sample tasks, take a meta-step with the
 * annealed step size, watch the loss, and hand evaluation points to the caller.
 */
import type { Rng } from '../core/rng.js';
import type { MetaLearner } from '../algorithms/meta-learner.js';
import type { TaskDistribution } from '../tasks/task.js';
import { metaStepSize } from './schedule.js';

export interface MetaTrainOptions {
  metaIters: number;
  metaStep: number;
  metaStepFinal: number;
  /** Call `onEvaluate` every this many iterations (0: never) and after the last. */
  evalInterval: number;
  /** First iteration to run (for resumed runs). */
  startIteration?: number;
  /** Called after every iteration with the mean inner loss (already read to the host). */
  onIteration?: (iteration: number, loss: number) => void | Promise<void>;
  /** Called with the number of finished iterations at each evaluation point. */
  onEvaluate?: (iterationsDone: number) => void | Promise<void>;
  /** Call `onCheckpoint` every this many iterations (0: never) and after the last. */
  checkpointInterval?: number;
  /** Called after `onEvaluate` at checkpoint points, with the number of finished iterations. */
  onCheckpoint?: (iterationsDone: number) => void | Promise<void>;
}

/** True when `done` iterations complete an interval of `interval` (or the whole run). */
export function due(done: number, interval: number | undefined, total: number): boolean {
  return done === total || (interval !== undefined && interval > 0 && done % interval === 0);
}

/** Raised when the training loss stops being a finite number. */
export class DivergenceError extends Error {
  constructor(readonly iteration: number, readonly loss: number, hint: string) {
    super(`training diverged at meta-iteration ${iteration}: the inner loss became ${loss}; ${hint}`);
    this.name = 'DivergenceError';
  }
}

export interface TaskStreams {
  /** Draws the tasks. */
  tasks: Rng;
  /** Orders the minibatches. */
  batches: Rng;
}

export async function metaTrain(
  learner: MetaLearner,
  distribution: TaskDistribution,
  streams: TaskStreams,
  options: MetaTrainOptions,
  divergenceHint = 'try a smaller --learning-rate or --meta-step',
): Promise<void> {
  const start = options.startIteration ?? 0;
  for (let i = start; i < options.metaIters; i++) {
    const tasks = Array.from({ length: learner.tasksPerIteration }, () => distribution.sampleTrainTask(streams.tasks));
    const eps = metaStepSize(options.metaStep, options.metaStepFinal, i, options.metaIters);
    // The loss is read once per meta-iteration (not per inner step): it catches divergence where it starts.
    const loss = await learner.metaStep(tasks, eps, streams.batches);
    if (!Number.isFinite(loss)) throw new DivergenceError(i + 1, loss, divergenceHint);
    await options.onIteration?.(i + 1, loss);
    const done = i + 1;
    if (options.onEvaluate && due(done, options.evalInterval, options.metaIters)) await options.onEvaluate(done);
    if (options.onCheckpoint && due(done, options.checkpointInterval, options.metaIters)) await options.onCheckpoint(done);
  }
}
