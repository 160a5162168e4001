/**
 * N-way K-shot classification episodes over a set of classes, as the original code samples
 * them: N distinct classes, examples of each drawn without replacement, labels remapped to
 * 0..N-1 in the order the classes were drawn.
 */
import type { Rng } from '../core/rng.js';
import type { EvalTask, Examples, TaskDistribution } from './task.js';

/**
 * One class of examples; `image` writes the features of example `index` at `offset`: an image's
 * pixels (flattened, channels last) or a text's bag of features (src/data/text.ts), anything of
 * the distribution's `inputShape`.
 */
export interface ExampleClass {
  readonly name: string;
  readonly count: number;
  image(index: number, out: Float32Array, offset: number): void;
}

export interface FewShotOptions {
  /** N: classes per task. */
  ways: number;
  /** Examples per class in a meta-training task. */
  trainShots: number;
  /** Examples per class in an evaluation task's support set. */
  shots: number;
  /** Query examples per class in an evaluation task (the original: 1). */
  queryShots?: number;
}

export class FewShotClassification implements TaskDistribution {
  readonly kind = 'classification' as const;
  readonly outputSize: number;
  readonly targetShape: number[] = [];
  readonly ways: number;
  readonly trainShots: number;
  readonly shots: number;
  readonly queryShots: number;
  private readonly exampleSize: number;

  constructor(
    readonly name: string,
    /** The split's classes (joint pre-training reads them with their global labels). */
    readonly classes: readonly ExampleClass[],
    readonly inputShape: number[],
    options: FewShotOptions,
  ) {
    this.ways = options.ways;
    this.trainShots = options.trainShots;
    this.shots = options.shots;
    this.queryShots = options.queryShots ?? 1;
    this.outputSize = this.ways;
    this.exampleSize = inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(this.ways) || this.ways < 2) throw new RangeError(`ways must be an integer >= 2, got ${this.ways}`);
    for (const [key, value] of Object.entries({ trainShots: this.trainShots, shots: this.shots, queryShots: this.queryShots })) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${key} must be an integer >= 1, got ${value}`);
    }
    if (classes.length < this.ways) {
      throw new RangeError(`${name}: ${this.ways}-way tasks need at least ${this.ways} classes, the split has ${classes.length}`);
    }
    const fewest = Math.min(...classes.map((c) => c.count));
    const needed = Math.max(this.trainShots, this.shots + this.queryShots);
    if (needed > fewest) {
      throw new RangeError(`${name}: a task needs ${needed} examples of a class (shots + query, or train-shots), but some class has only ${fewest}`);
    }
  }

  get classCount(): number {
    return this.classes.length;
  }

  /** Draws the classes and, per class, `perClass` distinct examples; grouped by class. */
  private draw(rng: Rng, perClass: number): { cls: ExampleClass; indices: number[] }[] {
    return rng.choice(this.classes.length, this.ways).map((c) => {
      const cls = this.classes[c];
      return { cls, indices: rng.choice(cls.count, perClass) };
    });
  }

  private gather(picks: { cls: ExampleClass; indices: number[] }[], from: number, to: number): Examples {
    const per = to - from;
    const count = picks.length * per;
    const x = new Float32Array(count * this.exampleSize);
    const y = new Int32Array(count);
    let n = 0;
    picks.forEach(({ cls, indices }, label) => {
      for (const index of indices.slice(from, to)) {
        cls.image(index, x, n * this.exampleSize);
        y[n++] = label;
      }
    });
    return { count, x, y };
  }

  sampleTrainTask(rng: Rng): Examples {
    const picks = this.draw(rng, this.trainShots);
    return this.gather(picks, 0, this.trainShots);
  }

  sampleEvalTask(rng: Rng): EvalTask {
    const picks = this.draw(rng, this.shots + this.queryShots);
    return {
      support: this.gather(picks, 0, this.shots),
      query: this.gather(picks, this.shots, this.shots + this.queryShots),
    };
  }
}
