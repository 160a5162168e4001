/**
 * Seeded random numbers. One seed drives every random choice of a run; independent streams
 * (initialisation, task sampling, minibatch order, evaluation) are split off with `fork()`.
 *
 * The generator is pure-rand's xoroshiro128+ (jumpable: a fork jumps 2^64 steps ahead, so
 * streams never overlap). Distributions on top of it are the few a meta-learner needs.
 */
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** Murmur3's 32-bit finaliser: a bijection on 32-bit integers that mixes every input bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/**
 * The generator's 128-bit state from a safe-integer seed. Seeding xoroshiro128+ with the raw seed
 * (pure-rand's `xoroshiro128plus(seed)`) makes the first outputs nearly a linear function of the
 * seed (the first float is ~1.0 for every small seed), and `seed | 0` merged seeds that differ
 * above bit 31. The (high, low) halves of the seed are hashed injectively into the state instead.
 */
function seedState(seed: number): number[] {
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x100000000) | 0;
  const w0 = mix32((low + 0x9e3779b9) | 0);
  const w1 = mix32((high + 0x3c6ef372) ^ w0);
  const w2 = mix32((w1 + 0xdaa66d2b) ^ w0);
  const w3 = mix32((w2 + 0x78dde6e4) ^ w1);
  // An all-zero state would emit zeros forever.
  return w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 ? [1, 0, 0, 0] : [w0, w1, w2, w3];
}

export class Rng {
  private constructor(private readonly gen: JumpableRandomGenerator) {}

  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    return new Rng(xoroshiro128plusFromState(seedState(seed)));
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
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`int(n) needs an integer n >= 1, got ${n}`);
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
    return Array.from(this.shuffledIndices(n));
  }

  /**
   * 0..n-1 shuffled exactly as `shuffle` would (the same draws, the same swaps), in an Int32Array:
   * a task draws its classes from thousands (Omniglot: 4800), and the generic array and the
   * per-draw checks of `shuffle` cost more than the draws.
   */
  private shuffledIndices(n: number): Int32Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`permutation needs a whole number of items, got ${n}`);
    const items = new Int32Array(n);
    for (let i = 0; i < n; i++) items[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = uniformInt(this.gen, 0, i);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** `k` indices from 0..n-1, distinct unless `replace`. */
  choice(n: number, k: number, replace = false): number[] {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`choice needs a whole number of items, got ${k}`);
    if (replace) return Array.from({ length: k }, () => this.int(n));
    if (k > n) throw new RangeError(`cannot choose ${k} distinct items out of ${n}`);
    return Array.from(this.shuffledIndices(n).subarray(0, k));
  }
}
