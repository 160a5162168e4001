/**
 * A finite set of meta-training tasks: `size` tasks drawn once from a distribution, then each
 * meta-training task is one of them, chosen uniformly. It answers "how many distinct training
 * tasks does meta-learning need?" (the article's 5.3.1); evaluation tasks still come fresh from
 * the underlying distribution, so a small pool is scored on tasks it never saw.
 */
import type { Rng } from '../core/rng.js';
import type { EvalTask, Examples, TaskDistribution } from './task.js';

export class TaskPool implements TaskDistribution {
  readonly name: string;
  readonly kind: TaskDistribution['kind'];
  readonly inputShape: number[];
  readonly outputSize: number;
  readonly targetShape: number[];
  private readonly tasks: Examples[];

  /** Draws the pool's `size` tasks from `source` with `rng` (the run's pool stream). */
  constructor(private readonly source: TaskDistribution, size: number, rng: Rng) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a task pool needs size >= 1, got ${size}`);
    this.name = `${source.name} (${size} training tasks)`;
    this.kind = source.kind;
    this.inputShape = source.inputShape;
    this.outputSize = source.outputSize;
    this.targetShape = source.targetShape;
    this.tasks = Array.from({ length: size }, () => source.sampleTrainTask(rng));
  }

  get size(): number {
    return this.tasks.length;
  }

  sampleTrainTask(rng: Rng): Examples {
    return this.tasks[rng.int(this.tasks.length)];
  }

  sampleEvalTask(rng: Rng): EvalTask {
    return this.source.sampleEvalTask(rng);
  }
}
