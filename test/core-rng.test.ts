/**
 * Seeded random numbers (src/core/rng.ts): determinism, forks, checkpointable state and the
 * distributions on top of the generator. Pure host code; the backend is selected only to follow
 * the suite's convention (no tensors are created here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';

await useBackend('wasm');

function floats(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.float());
}

/** Pearson's chi-square statistic of observed counts against equal expected counts. */
function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

test('the same seed gives the same sequence of every distribution', () => {
  const draw = (rng: Rng) => [
    ...floats(rng, 20),
    ...Array.from({ length: 20 }, () => rng.int(1000)),
    ...Array.from({ length: 20 }, () => rng.normal()),
    ...rng.permutation(30),
    rng.uniform(-3, 7),
  ];
  assert.deepEqual(draw(Rng.fromSeed(1234)), draw(Rng.fromSeed(1234)));
  assert.notDeepEqual(draw(Rng.fromSeed(1234)), draw(Rng.fromSeed(1235)));
});

test('seeds that differ only above bit 31 give different streams', () => {
  // fromSeed accepts any safe integer; truncating it to 32 bits would silently merge streams.
  assert.notDeepEqual(floats(Rng.fromSeed(1), 10), floats(Rng.fromSeed(2 ** 32 + 1), 10));
  assert.notDeepEqual(floats(Rng.fromSeed(-1), 10), floats(Rng.fromSeed(2 ** 32 - 1), 10));
  assert.notDeepEqual(floats(Rng.fromSeed(0), 10), floats(Rng.fromSeed(2 ** 40), 10));
});

test('the first draws of neighbouring seeds are not correlated with the seed', () => {
  // xoroshiro128+ seeded directly from a small integer emits a first output of ~seed (so a first
  // float of ~1.0 for every small seed) and a second output that is linear in the seed.
  // Seeds 0..1999 are what users pass; their first and second floats must look uniform.
  const seeds = Array.from({ length: 2000 }, (_, s) => s);
  for (const position of [0, 1]) {
    const values = seeds.map((s) => floats(Rng.fromSeed(s), position + 1)[position]);
    const counts = new Array(10).fill(0);
    for (const v of values) counts[Math.floor(v * 10)]++;
    // 9 degrees of freedom: mean 9, sd 4.2; 40 is far in the tail (p < 1e-5).
    assert.ok(chiSquare(counts) < 40, `draw ${position} over seeds: bucket counts ${counts.join(' ')}`);
    // Consecutive seeds must not give nearly equal (or linearly related) values.
    const lagged = pearson(values.slice(0, -1), values.slice(1));
    assert.ok(Math.abs(lagged) < 0.1, `draw ${position}: correlation between seed s and s+1 is ${lagged}`);
  }
});

test('fork(): the n-th fork of a seed is fixed, and the streams are independent', () => {
  const a = Rng.fromSeed(99);
  const b = Rng.fromSeed(99);
  const [a1, a2, a3] = [a.fork(), a.fork(), a.fork()];
  const [b1, b2, b3] = [b.fork(), b.fork(), b.fork()];
  // Draw in different orders: a fork's values do not depend on what its siblings drew.
  const a3v = floats(a3, 500);
  const a1v = floats(a1, 500);
  const a2v = floats(a2, 500);
  const b1v = floats(b1, 500);
  const b2v = floats(b2, 500);
  const b3v = floats(b3, 500);
  assert.deepEqual(a1v, b1v);
  assert.deepEqual(a2v, b2v);
  assert.deepEqual(a3v, b3v);
  // The parent moved on: it is not one of its forks.
  const parent = floats(a, 500);
  assert.deepEqual(parent, floats(b, 500));
  for (const child of [a1v, a2v, a3v]) assert.notDeepEqual(parent, child);
  assert.notDeepEqual(a1v, a2v);
  assert.notDeepEqual(a2v, a3v);
  // Forks of forks are deterministic too.
  assert.deepEqual(floats(Rng.fromSeed(5).fork().fork(), 5), floats(Rng.fromSeed(5).fork().fork(), 5));
  // Independence: no linear correlation, and no shared values (streams do not overlap).
  const x = floats(Rng.fromSeed(7).fork(), 10000);
  const r7 = Rng.fromSeed(7);
  r7.fork();
  const y = floats(r7.fork(), 10000);
  // sd of Pearson's r under independence is 1/sqrt(10000) = 0.01.
  assert.ok(Math.abs(pearson(x, y)) < 0.05, `correlation between sibling forks ${pearson(x, y)}`);
  const seen = new Set(x);
  assert.equal(y.filter((v) => seen.has(v)).length, 0, 'sibling forks share values');
});

test('state() / fromState() round trip, also through JSON (checkpoints)', () => {
  const rng = Rng.fromSeed(2024);
  floats(rng, 37);
  rng.int(10);
  const state = rng.state();
  const saved = JSON.parse(JSON.stringify(state)) as number[];
  const expected = [...floats(rng, 50), rng.int(1000), rng.normal(), ...rng.permutation(10)];
  const restored = Rng.fromState(saved);
  assert.deepEqual([...floats(restored, 50), restored.int(1000), restored.normal(), ...restored.permutation(10)], expected);
  // state() is a snapshot: mutating it does not touch the generator, drawing does not change it.
  const fresh = Rng.fromState(saved);
  const snap = fresh.state();
  const copy = [...snap];
  snap[0] ^= 1;
  assert.deepEqual(floats(fresh, 5), expected.slice(0, 5));
  assert.notDeepEqual(fresh.state(), copy);
  assert.deepEqual(floats(Rng.fromState(copy), 5), expected.slice(0, 5));
  // Restoring a forked stream continues that stream.
  const child = Rng.fromSeed(3).fork();
  floats(child, 3);
  const childState = child.state();
  assert.deepEqual(floats(Rng.fromState(childState), 10), floats(child, 10));
});

test('fromSeed rejects non-integers', () => {
  for (const bad of [1.5, Number.NaN, Infinity, 2 ** 60]) {
    assert.throws(() => Rng.fromSeed(bad), RangeError, String(bad));
  }
});

test('int(n): integers in [0, n), roughly uniform', () => {
  const rng = Rng.fromSeed(11);
  for (const n of [10, 7]) {
    const counts = new Array(n).fill(0);
    const draws = 20000 * n;
    for (let i = 0; i < draws; i++) {
      const k = rng.int(n);
      assert.ok(Number.isInteger(k) && k >= 0 && k < n, `int(${n}) gave ${k}`);
      counts[k]++;
    }
    // n - 1 degrees of freedom (<= 9): mean <= 9, sd <= 4.3; 40 is p < 1e-5.
    assert.ok(chiSquare(counts) < 40, `int(${n}) counts ${counts.join(' ')}`);
  }
  for (let i = 0; i < 100; i++) assert.equal(rng.int(1), 0);
  // Large n (above 2^32) still gives integers in range, spread over the range.
  const big = 2 ** 40;
  const bigDraws = Array.from({ length: 1000 }, () => rng.int(big));
  assert.ok(bigDraws.every((k) => Number.isInteger(k) && k >= 0 && k < big));
  assert.ok(bigDraws.some((k) => k > 2 ** 39) && bigDraws.some((k) => k < 2 ** 39));
  assert.ok(bigDraws.some((k) => k > 2 ** 33), 'int(2^40) never exceeded 2^33');
});

test('int(n) rejects n < 1 and non-integer n', () => {
  const rng = Rng.fromSeed(0);
  for (const bad of [0, -3, Number.NaN, 2.5]) assert.throws(() => rng.int(bad), RangeError, String(bad));
});

test('permutation(n) is a permutation, and every ordering is about equally likely', () => {
  const rng = Rng.fromSeed(8);
  for (const n of [0, 1, 2, 50]) {
    const p = rng.permutation(n);
    assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  }
  const identity = Array.from({ length: 50 }, (_, i) => i);
  assert.notDeepEqual(rng.permutation(50), identity);
  // All 6 orderings of 3 items (5 degrees of freedom: mean 5, sd 3.2).
  const counts = new Map<string, number>();
  for (let i = 0; i < 12000; i++) {
    const key = rng.permutation(3).join('');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  assert.ok(chiSquare([...counts.values()]) < 30, JSON.stringify([...counts]));
  // shuffle works in place and keeps the elements.
  const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const same = rng.shuffle(items);
  assert.equal(same, items);
  assert.deepEqual([...items].sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
});

test('choice: distinct without replacement, in range with replacement', () => {
  const rng = Rng.fromSeed(21);
  for (let trial = 0; trial < 200; trial++) {
    const picked = rng.choice(20, 7);
    assert.equal(picked.length, 7);
    assert.equal(new Set(picked).size, 7, `repeated index in ${picked}`);
    assert.ok(picked.every((i) => Number.isInteger(i) && i >= 0 && i < 20));
  }
  assert.deepEqual([...rng.choice(9, 9)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(rng.choice(5, 0), []);
  assert.throws(() => rng.choice(3, 4), RangeError);
  // With replacement: k may exceed n, all values in range, repeats occur.
  const withReplacement = rng.choice(3, 50, true);
  assert.equal(withReplacement.length, 50);
  assert.ok(withReplacement.every((i) => i >= 0 && i < 3));
  assert.ok(new Set(withReplacement).size < 50);
  // Every index is chosen about equally often (chi-square over 20 indices, 19 dof: mean 19, sd 6.2).
  const counts = new Array(20).fill(0);
  for (let trial = 0; trial < 4000; trial++) for (const i of rng.choice(20, 5)) counts[i]++;
  assert.ok(chiSquare(counts) < 60, counts.join(' '));
});

test('uniform(low, high), float() and normal() cover their ranges with the right moments', () => {
  const rng = Rng.fromSeed(77);
  const n = 50000;
  const u = Array.from({ length: n }, () => rng.uniform(-2, 6));
  assert.ok(u.every((x) => x >= -2 && x < 6));
  const mean = u.reduce((s, x) => s + x, 0) / n;
  const variance = u.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
  // U(-2, 6): mean 2 (sd of the sample mean 0.01), variance 64/12 = 5.33.
  assert.ok(Math.abs(mean - 2) < 0.06, `mean ${mean}`);
  assert.ok(Math.abs(variance - 64 / 12) / (64 / 12) < 0.03, `variance ${variance}`);
  assert.ok(Math.min(...u) < -1.99 && Math.max(...u) > 5.99);
  // Degenerate range.
  assert.equal(rng.uniform(3, 3), 3);
  const f = floats(rng, n);
  assert.ok(f.every((x) => x >= 0 && x < 1));
  const z = Array.from({ length: n }, () => rng.normal());
  assert.ok(z.every(Number.isFinite));
  const zm = z.reduce((s, x) => s + x, 0) / n;
  const zv = z.reduce((s, x) => s + (x - zm) ** 2, 0) / n;
  assert.ok(Math.abs(zm) < 0.03, `normal mean ${zm}`);
  assert.ok(Math.abs(zv - 1) < 0.04, `normal variance ${zv}`);
  // Tails: P(|z| > 2) = 0.0455.
  const tail = z.filter((x) => Math.abs(x) > 2).length / n;
  assert.ok(Math.abs(tail - 0.0455) < 0.006, `P(|z|>2) = ${tail}`);
});

test('permutation and choice are exactly shuffle of 0..n-1 (the same draws, the same stream afterwards)', () => {
  for (const n of [1, 2, 7, 1200, 4800]) {
    const [a, b] = [Rng.fromSeed(n), Rng.fromSeed(n)];
    assert.deepEqual(a.permutation(n), b.shuffle(Array.from({ length: n }, (_, i) => i)));
    assert.deepEqual(a.choice(n, Math.min(n, 5)), b.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.min(n, 5)));
    assert.equal(a.float(), b.float(), 'the streams continue alike');
  }
});
