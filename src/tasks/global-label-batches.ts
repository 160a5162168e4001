/**
 * Minibatches over ALL classes of a split with their global labels (class i of the split is
 * label i): what joint pre-training, the Reptile paper's "joint training" baseline, trains a
 * C-way classifier on. Each example of a minibatch is drawn independently and uniformly over
 * all the split's examples (so classes weigh by their size; with replacement, so a draw needs
 * no state between minibatches and a resumed run draws the same ones from the same generator).
 */
import type { Rng } from '../core/rng.js';
import type { ExampleClass } from './few-shot.js';
import type { Examples } from './task.js';

export class GlobalLabelBatches {
  /** starts[c]: index of class c's first example in the split's examples, in class order. */
  private readonly starts: number[];
  private readonly total: number;
  private readonly exampleSize: number;

  constructor(private readonly classes: readonly ExampleClass[], inputShape: readonly number[]) {
    if (classes.length < 2) throw new RangeError(`joint pre-training needs at least 2 classes, got ${classes.length}`);
    this.starts = [];
    let total = 0;
    for (const cls of classes) {
      this.starts.push(total);
      total += cls.count;
    }
    this.total = total;
    this.exampleSize = inputShape.reduce((a, b) => a * b, 1);
  }

  get classCount(): number {
    return this.classes.length;
  }

  /** `size` examples, uniform over the split's examples; y holds global labels 0..C-1. */
  sample(rng: Rng, size: number): Examples {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a minibatch needs at least 1 example, got ${size}`);
    const x = new Float32Array(size * this.exampleSize);
    const y = new Int32Array(size);
    for (let n = 0; n < size; n++) {
      const flat = rng.int(this.total);
      const label = this.classOf(flat);
      this.classes[label].image(flat - this.starts[label], x, n * this.exampleSize);
      y[n] = label;
    }
    return { count: size, x, y };
  }

  /** The class holding flat example index `flat` (binary search over the starts). */
  private classOf(flat: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= flat) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
