import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { minibatchIndices } from '../src/tasks/task.js';

await useBackend('wasm');

const sine = new SineDistribution();

test('sine grid: 50 evenly spaced points from -5 to 5', () => {
  assert.equal(sine.grid.length, 50);
  assert.equal(sine.grid[0], -5);
  assert.equal(sine.grid[49], 5);
  for (let i = 0; i < 50; i++) {
    assert.equal(sine.grid[i], Math.fround(-5 + (10 * i) / 49), `grid[${i}]`);
  }
  assert.deepEqual([sine.inputShape, sine.targetShape, sine.outputSize, sine.kind], [[1], [1], 1, 'regression']);
});

test('sine tasks: amplitude in [0.1, 5], phase in [0, 2 pi), spread over the whole ranges', () => {
  const rng = Rng.fromSeed(42);
  const amps: number[] = [];
  const phases: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const { amplitude, phase } = sine.sampleTask(rng);
    amps.push(amplitude);
    phases.push(phase);
  }
  assert.ok(amps.every((a) => a >= 0.1 && a <= 5), 'amplitude range');
  assert.ok(phases.every((p) => p >= 0 && p < 2 * Math.PI), 'phase range');
  // Uniform: the extremes are reached and the means sit in the middle.
  assert.ok(Math.min(...amps) < 0.15 && Math.max(...amps) > 4.95, `amplitude extremes ${Math.min(...amps)} ${Math.max(...amps)}`);
  assert.ok(Math.min(...phases) < 0.05 && Math.max(...phases) > 2 * Math.PI - 0.05, 'phase extremes');
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(Math.abs(mean(amps) - 2.55) < 0.1, `amplitude mean ${mean(amps)}`);
  assert.ok(Math.abs(mean(phases) - Math.PI) < 0.1, `phase mean ${mean(phases)}`);
  // Amplitude and phase are separate draws.
  const lowAmpPhases = phases.filter((_, i) => amps[i] < 2.55);
  assert.ok(Math.abs(mean(lowAmpPhases) - Math.PI) < 0.15);
});

test('a meta-training task is the whole grid with y = A sin(x + b) exactly', () => {
  const rng = Rng.fromSeed(7);
  for (let k = 0; k < 20; k++) {
    // The task draws its amplitude and phase first: replay them from a copy of the stream.
    const { amplitude, phase } = sine.sampleTask(Rng.fromState(rng.state()));
    const task = sine.sampleTrainTask(rng);
    assert.equal(task.count, 50);
    assert.equal(task.x.length, 50);
    assert.equal(task.y.length, 50);
    assert.ok(task.y instanceof Float32Array);
    for (let i = 0; i < 50; i++) {
      assert.equal(task.x[i], sine.grid[i]);
      assert.equal(task.y[i], Math.fround(amplitude * Math.sin(task.x[i] + phase)), `y[${i}]`);
    }
  }
});

test('a task with fewer train points takes distinct grid points', () => {
  const small = new SineDistribution({ trainPoints: 20 });
  const rng = Rng.fromSeed(8);
  const { amplitude, phase } = small.sampleTask(Rng.fromState(rng.state()));
  const task = small.sampleTrainTask(rng);
  assert.equal(task.count, 20);
  const grid = Array.from(small.grid);
  const idx = Array.from(task.x, (x) => grid.indexOf(x));
  assert.ok(idx.every((i) => i >= 0), 'points come from the grid');
  assert.equal(new Set(idx).size, 20, 'without replacement');
  task.x.forEach((x, i) => assert.equal(task.y[i], Math.fround(amplitude * Math.sin(x + phase))));
  assert.throws(() => new SineDistribution({ trainPoints: 51 }), RangeError);
  assert.throws(() => new SineDistribution({ shots: 0 }), RangeError);
});

test('an evaluation task: `shots` support points from the grid and the 50-point grid as query', () => {
  for (const shots of [10, 5, 1]) {
    const dist = new SineDistribution({ shots });
    const rng = Rng.fromSeed(shots);
    for (let k = 0; k < 10; k++) {
      const task = dist.sampleEvalTask(rng);
      const { amplitude, phase } = task.describe as { amplitude: number; phase: number };
      assert.ok(amplitude >= 0.1 && amplitude <= 5 && phase >= 0 && phase < 2 * Math.PI);
      const f = (x: number) => Math.fround(amplitude * Math.sin(x + phase));
      assert.equal(task.support.count, shots);
      assert.equal(task.support.x.length, shots);
      assert.equal(task.support.y.length, shots);
      task.support.x.forEach((x, i) => {
        assert.ok(dist.grid.includes(x), `support x ${x} is a grid point`);
        assert.equal(task.support.y[i], f(x));
      });
      assert.equal(task.query.count, 50);
      assert.deepEqual(Array.from(task.query.x), Array.from(dist.grid));
      task.query.x.forEach((x, i) => assert.equal(task.query.y[i], f(x)));
    }
  }
});

test('sine sampling is deterministic for a seed', () => {
  const a = sine.sampleEvalTask(Rng.fromSeed(3));
  const b = sine.sampleEvalTask(Rng.fromSeed(3));
  const c = sine.sampleEvalTask(Rng.fromSeed(4));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(sine.sampleTrainTask(Rng.fromSeed(3)), sine.sampleTrainTask(Rng.fromSeed(3)));
});

const isPermutation = (xs: number[], n: number) => xs.length === n && [...xs].sort((a, b) => a - b).every((v, i) => v === i);

test('minibatchIndices: consecutive batches of one shuffled order, each example once per epoch', () => {
  const batches = minibatchIndices(50, 10, 10, Rng.fromSeed(1));
  assert.equal(batches.length, 10);
  assert.ok(batches.every((b) => b.length === 10));
  const flat = batches.flat();
  assert.ok(isPermutation(flat.slice(0, 50), 50), 'first epoch uses every example once');
  assert.ok(isPermutation(flat.slice(50, 100), 50), 'second epoch uses every example once');
  assert.notDeepEqual(flat.slice(0, 50), flat.slice(50, 100), 'reshuffled between epochs');
  // Exactly the consecutive slices of the generator's permutations.
  const replay = Rng.fromSeed(1);
  const expected = [...replay.permutation(50), ...replay.permutation(50)];
  assert.deepEqual(flat, expected);
  assert.notDeepEqual(flat.slice(0, 50), Array.from({ length: 50 }, (_, i) => i), 'shuffled, not in order');
});

test('minibatchIndices: a batch that runs past the end continues into the next shuffled epoch', () => {
  const batches = minibatchIndices(7, 3, 7, Rng.fromSeed(2));
  assert.ok(batches.every((b) => b.length === 3));
  const flat = batches.flat();
  for (let e = 0; e < 3; e++) assert.ok(isPermutation(flat.slice(7 * e, 7 * e + 7), 7), `epoch ${e}`);
  // Batch larger than the task: several epochs inside one batch, as the original's generator.
  const big = minibatchIndices(4, 10, 2, Rng.fromSeed(3)).flat();
  for (let e = 0; e < 5; e++) assert.ok(isPermutation(big.slice(4 * e, 4 * e + 4), 4));
});

test('minibatchIndices is deterministic for a seed and differs across seeds', () => {
  assert.deepEqual(minibatchIndices(50, 10, 5, Rng.fromSeed(9)), minibatchIndices(50, 10, 5, Rng.fromSeed(9)));
  assert.notDeepEqual(minibatchIndices(50, 10, 5, Rng.fromSeed(9)), minibatchIndices(50, 10, 5, Rng.fromSeed(10)));
  assert.deepEqual(minibatchIndices(50, 10, 0, Rng.fromSeed(9)), []);
  assert.throws(() => minibatchIndices(50, 0, 1, Rng.fromSeed(9)), RangeError);
  assert.throws(() => minibatchIndices(0, 10, 1, Rng.fromSeed(9)), RangeError);
});
