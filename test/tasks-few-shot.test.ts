/**
 * N-way K-shot episodes (src/tasks/few-shot.ts) over synthetic classes whose every pixel encodes
 * (class, example index), so each example of a task can be traced back to where it came from:
 * N distinct classes, distinct examples, support and query disjoint, labels 0..N-1 in draw order
 * (the same for support and query), the counts, determinism, constructor errors, uniformity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/core/rng.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import type { Examples } from '../src/tasks/task.js';

/** Value of every pixel of example `index` of class `cls`. */
const CODE = 1000;
const encode = (cls: number, index: number) => cls * CODE + index + 1;

const INPUT_SHAPE = [2, 3];
const SIZE = 6;

/** `counts[c]` examples of class c; `calls` records every image() call (class, index). */
function syntheticClasses(counts: number[], calls?: [number, number][]): ExampleClass[] {
  return counts.map((count, c) => ({
    name: `class${c}`,
    count,
    image(index: number, out: Float32Array, offset: number) {
      assert.ok(Number.isInteger(index) && index >= 0 && index < count, `class${c}: index ${index} out of range 0..${count - 1}`);
      calls?.push([c, index]);
      out.fill(encode(c, index), offset, offset + SIZE);
    },
  }));
}

interface Decoded {
  cls: number;
  index: number;
  label: number;
}

/** Every example of `examples` as (class, index, label); checks that each image was written whole. */
function decode(examples: Examples): Decoded[] {
  assert.equal(examples.x.length, examples.count * SIZE, 'x length');
  assert.equal(examples.y.length, examples.count, 'y length');
  assert.ok(examples.y instanceof Int32Array, 'classification labels are an Int32Array');
  const out: Decoded[] = [];
  for (let n = 0; n < examples.count; n++) {
    const v = examples.x[n * SIZE];
    for (let k = 1; k < SIZE; k++) assert.equal(examples.x[n * SIZE + k], v, `example ${n}: pixel ${k} differs from pixel 0 (image written at the wrong offset?)`);
    assert.ok(v >= 1, `example ${n} was never written (value ${v})`);
    out.push({ cls: Math.floor((v - 1) / CODE), index: (v - 1) % CODE, label: examples.y[n] });
  }
  return out;
}

const key = (d: Decoded) => `${d.cls}:${d.index}`;

/** Checks the label mapping of a set of examples: one label per class, a bijection onto 0..ways-1. */
function labelMap(examples: Decoded[], ways: number): Map<number, number> {
  const map = new Map<number, number>();
  for (const d of examples) {
    const known = map.get(d.cls);
    if (known === undefined) map.set(d.cls, d.label);
    else assert.equal(d.label, known, `class ${d.cls} carries two labels in one task (${known} and ${d.label})`);
  }
  assert.equal(map.size, ways, `${map.size} distinct classes in a ${ways}-way task`);
  assert.deepEqual([...map.values()].sort((a, b) => a - b), Array.from({ length: ways }, (_, i) => i), 'labels are 0..N-1, one per class');
  return map;
}

const COUNTS = [20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20];

test('evaluation tasks: N distinct classes, distinct examples, support and query disjoint, labels 0..N-1 in draw order', () => {
  const ways = 5;
  const shots = 3;
  const queryShots = 2;
  const classes = syntheticClasses(COUNTS);
  const tasks = new FewShotClassification('synthetic', classes, INPUT_SHAPE, { ways, trainShots: 10, shots, queryShots });
  assert.equal(tasks.kind, 'classification');
  assert.equal(tasks.outputSize, ways);
  assert.deepEqual(tasks.targetShape, []);
  assert.deepEqual(tasks.inputShape, INPUT_SHAPE);
  assert.equal(tasks.classCount, COUNTS.length);
  const rng = Rng.fromSeed(3);
  for (let t = 0; t < 200; t++) {
    // The sampler draws the N classes first (as the original's random.sample of the classes):
    // replay that draw from a copy of the stream to learn the draw order.
    const drawn = Rng.fromState(rng.state()).choice(COUNTS.length, ways);
    const task = tasks.sampleEvalTask(rng);
    assert.equal(task.support.count, ways * shots, 'support count = ways * shots');
    assert.equal(task.query.count, ways * queryShots, 'query count = ways * queryShots');
    const support = decode(task.support);
    const query = decode(task.query);
    const supportMap = labelMap(support, ways);
    const queryMap = labelMap(query, ways);
    assert.deepEqual([...queryMap.entries()].sort(), [...supportMap.entries()].sort(), 'support and query label the classes the same way');
    // Label i is the i-th drawn class.
    for (const [cls, label] of supportMap) assert.equal(cls, drawn[label], `label ${label} should be the ${label}-th drawn class ${drawn[label]}, is class ${cls}`);
    // Per class: shots support and queryShots query examples, all distinct.
    const all = [...support, ...query];
    assert.equal(new Set(all.map(key)).size, all.length, 'an example repeats within a task');
    const supportKeys = new Set(support.map(key));
    for (const q of query) assert.ok(!supportKeys.has(key(q)), `query example ${key(q)} is also in the support set`);
    for (const cls of supportMap.keys()) {
      assert.equal(support.filter((d) => d.cls === cls).length, shots, `support examples of class ${cls}`);
      assert.equal(query.filter((d) => d.cls === cls).length, queryShots, `query examples of class ${cls}`);
    }
  }
});

test('the query defaults to one example per class (the original eval.py)', () => {
  const tasks = new FewShotClassification('synthetic', syntheticClasses(COUNTS), INPUT_SHAPE, { ways: 4, trainShots: 10, shots: 1 });
  assert.equal(tasks.queryShots, 1);
  const task = tasks.sampleEvalTask(Rng.fromSeed(1));
  assert.equal(task.support.count, 4);
  assert.equal(task.query.count, 4);
  const support = decode(task.support);
  const query = decode(task.query);
  assert.deepEqual([...labelMap(query, 4).entries()].sort(), [...labelMap(support, 4).entries()].sort());
  assert.ok(!query.some((q) => support.some((s) => key(s) === key(q))), 'support and query share an example');
});

test('meta-training tasks: ways * trainShots examples, N distinct classes, no repeats, labels in draw order', () => {
  const ways = 5;
  const trainShots = 15;
  const tasks = new FewShotClassification('synthetic', syntheticClasses(COUNTS), INPUT_SHAPE, { ways, trainShots, shots: 1 });
  const rng = Rng.fromSeed(11);
  for (let t = 0; t < 100; t++) {
    const drawn = Rng.fromState(rng.state()).choice(COUNTS.length, ways);
    const task = tasks.sampleTrainTask(rng);
    assert.equal(task.count, ways * trainShots);
    const examples = decode(task);
    const map = labelMap(examples, ways);
    for (const [cls, label] of map) assert.equal(cls, drawn[label], `label ${label} is not the ${label}-th drawn class`);
    assert.equal(new Set(examples.map(key)).size, examples.length, 'an example repeats within a training task');
    for (const cls of map.keys()) assert.equal(examples.filter((d) => d.cls === cls).length, trainShots);
  }
});

test('every example index of a class is reachable, and examples of the largest class beyond the smallest count too', () => {
  // Classes of different sizes: the per-class draw must use that class's own count.
  const counts = [4, 9, 6, 12, 5, 7];
  const tasks = new FewShotClassification('uneven', syntheticClasses(counts), INPUT_SHAPE, { ways: 3, trainShots: 4, shots: 2, queryShots: 2 });
  const seen = counts.map(() => new Set<number>());
  const rng = Rng.fromSeed(5);
  for (let t = 0; t < 400; t++) {
    const task = tasks.sampleEvalTask(rng);
    for (const d of [...decode(task.support), ...decode(task.query)]) seen[d.cls].add(d.index);
  }
  counts.forEach((count, c) => assert.equal(seen[c].size, count, `class ${c}: ${seen[c].size} of its ${count} examples were ever drawn`));
});

test('tasks are a function of the seed', () => {
  const tasks = new FewShotClassification('synthetic', syntheticClasses(COUNTS), INPUT_SHAPE, { ways: 5, trainShots: 10, shots: 2 });
  const run = (seed: number) => {
    const rng = Rng.fromSeed(seed);
    const out = [];
    for (let i = 0; i < 5; i++) out.push(tasks.sampleEvalTask(rng), tasks.sampleTrainTask(rng));
    return out;
  };
  const a = run(7);
  const b = run(7);
  const c = run(8);
  assert.deepEqual(a, b, 'the same seed gives the same tasks');
  assert.notDeepEqual(a, c, 'another seed gives other tasks');
  // Sampling does not depend on anything but the stream (no hidden state in the distribution).
  const fresh = new FewShotClassification('synthetic', syntheticClasses(COUNTS), INPUT_SHAPE, { ways: 5, trainShots: 10, shots: 2 });
  assert.deepEqual(fresh.sampleEvalTask(Rng.fromSeed(7)), a[0]);
});

test('the constructor refuses too few classes or too few examples, naming the problem', () => {
  const make = (counts: number[], options: { ways: number; trainShots: number; shots: number; queryShots?: number }) => () =>
    new FewShotClassification('tiny', syntheticClasses(counts), INPUT_SHAPE, options);
  // Fewer classes than ways.
  assert.throws(make([20, 20, 20, 20], { ways: 5, trainShots: 10, shots: 1 }), (e: Error) => {
    assert.ok(e instanceof RangeError, String(e));
    assert.match(e.message, /tiny/);
    assert.match(e.message, /5-way/);
    assert.match(e.message, /classes/);
    assert.match(e.message, /\b4\b/);
    return true;
  });
  // Exactly `ways` classes is enough.
  assert.doesNotThrow(make([20, 20, 20, 20, 20], { ways: 5, trainShots: 10, shots: 1 }));
  // One class with fewer examples than shots + query.
  assert.throws(make([20, 20, 20, 3, 20], { ways: 2, trainShots: 3, shots: 3 }), (e: Error) => {
    assert.ok(e instanceof RangeError, String(e));
    assert.match(e.message, /\b4\b/, 'names the examples needed (shots + query)');
    assert.match(e.message, /\b3\b/, 'names the examples available');
    assert.match(e.message, /examples/);
    return true;
  });
  assert.throws(make([20, 20], { ways: 2, trainShots: 1, shots: 18, queryShots: 3 }), /21 examples/);
  assert.doesNotThrow(make([20, 20], { ways: 2, trainShots: 20, shots: 19 }));
  // Fewer examples than train-shots.
  assert.throws(make([20, 20, 20], { ways: 2, trainShots: 21, shots: 1 }), (e: Error) => {
    assert.ok(e instanceof RangeError, String(e));
    assert.match(e.message, /21/);
    assert.match(e.message, /train-shots/);
    assert.match(e.message, /\b20\b/);
    return true;
  });
  // Fewer than two ways.
  assert.throws(make([20, 20], { ways: 1, trainShots: 1, shots: 1 }), /ways/);
  assert.throws(make([20, 20, 20], { ways: 2.5, trainShots: 1, shots: 1 }), /ways/);
});

test('over many tasks every class is drawn, about equally often, and takes every label', () => {
  const classes = 20;
  const ways = 5;
  const tasks = new FewShotClassification('synthetic', syntheticClasses(new Array(classes).fill(20)), INPUT_SHAPE, { ways, trainShots: 2, shots: 1 });
  const rng = Rng.fromSeed(123);
  const draws = new Array(classes).fill(0);
  const labels = Array.from({ length: classes }, () => new Array(ways).fill(0));
  const taskCount = 2000;
  for (let t = 0; t < taskCount; t++) {
    const task = t % 2 === 0 ? tasks.sampleTrainTask(rng) : tasks.sampleEvalTask(rng).support;
    for (const [cls, label] of labelMap(decode(task), ways)) {
      draws[cls]++;
      labels[cls][label]++;
    }
  }
  // Each class is in a task with probability ways / classes = 1/4: 500 expected, sd ~19.
  const expected = (taskCount * ways) / classes;
  for (let c = 0; c < classes; c++) {
    assert.ok(Math.abs(draws[c] - expected) < 0.2 * expected, `class ${c} drawn ${draws[c]} times, expected about ${expected}`);
    // The label is the draw position, not a function of the class: every class takes every label.
    for (let l = 0; l < ways; l++) assert.ok(labels[c][l] > 0.5 * (expected / ways), `class ${c} took label ${l} only ${labels[c][l]} times`);
  }
});
