/**
 * Seeded random numbers. One seed drives every random choice of a run; independent streams
 * (initialisation, task sampling, minibatch order, evaluation) are split off with `fork()`.
 *
 * The generator is pure-rand's xoroshiro128+ (jumpable: a fork jumps 2^64 steps ahead, so
 * streams never overlap). Distributions on top of it are the few a meta-learner needs.
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

export class Rng {
  private constructor(private readonly gen: JumpableRandomGenerator) {}

  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    return new Rng(xoroshiro128plus(seed | 0));
  }

  /** Restores a generator saved with `state()` (for checkpoints). */
  static fromState(state: readonly number[]): Rng {
    return new Rng(xoroshiro128plusFromState(state));
  }

  state(): number[] {
    return [...this.gen.getState()];
  }

  /**
   * An independent stream: the child continues this stream, this generator jumps 2^64 steps
   * ahead. The n-th fork of a generator is therefore fixed by the seed alone.
   */
  fork(): Rng {
    const child = this.gen.clone();
    this.gen.jump();
    return new Rng(child);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.gen);
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.float();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`int(n) needs n >= 1, got ${n}`);
    return uniformInt(this.gen, 0, n - 1);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** `k` indices from 0..n-1, distinct unless `replace`. */
  choice(n: number, k: number, replace = false): number[] {
    if (replace) return Array.from({ length: k }, () => this.int(n));
    if (k > n) throw new RangeError(`cannot choose ${k} distinct items out of ${n}`);
    return this.permutation(n).slice(0, k);
  }
}
