/**
 * The page's model logic (src/demo): FewShotDemo adapts exactly as `reptile eval` does (same
 * parameters as adaptToSupport with the same seed and settings, predictions as predictQueries),
 * learns clearly distinct synthetic symbols from a few examples, and leaks no tensors over many
 * rounds; fitSine starts from the given parameters and fits the clicked points; adaptationOf
 * reads a run's config.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { adaptToSupport } from '../src/eval/adapt.js';
import { predictQueries } from '../src/eval/classification.js';
import { toBatch } from '../src/algorithms/inner-loop.js';
import { FewShotDemo, type LabelledExamples } from '../src/demo/few-shot-demo.js';
import { fitSine } from '../src/demo/sine-demo.js';
import { adaptationOf, type RunSettings } from '../src/demo/run-settings.js';
import type { Model } from '../src/nn/model.js';

await useBackend('wasm');

const SETTINGS: RunSettings = {
  benchmark: 'omniglot', algorithm: 'reptile', classes: 3, shots: 2, evalIters: 20, evalBatch: 5, seed: 0,
  innerOptimizer: 'adam', learningRate: 0.001, momentum: 0, adamBeta1: 0, adamBeta2: 0.999,
};

/** 28x28 symbols: a horizontal bar, a vertical bar, a box outline; jittered by `shift`. */
function symbol(kind: number, shift: number): Float32Array {
  const x = new Float32Array(28 * 28);
  const set = (r: number, c: number) => (x[Math.min(27, Math.max(0, r)) * 28 + Math.min(27, Math.max(0, c))] = 1);
  for (let i = 6; i < 22; i++) {
    for (let w = 0; w < 3; w++) {
      if (kind === 0) set(13 + w + shift, i);
      if (kind === 1) set(i, 13 + w + shift);
      if (kind === 2) (set(6 + w + shift, i), set(21 - w + shift, i), set(i, 6 + w + shift), set(i, 21 - w + shift));
    }
  }
  return x;
}

function examples(shifts: number[]): LabelledExamples {
  const out: LabelledExamples = { x: [], y: [] };
  for (let kind = 0; kind < 3; kind++) for (const s of shifts) (out.x.push(symbol(kind, s)), out.y.push(kind));
  return out;
}

async function values(params: ParamSet): Promise<number[]> {
  return (await paramsToHost(params)).values.flatMap((v) => Array.from(v));
}

function demoFor(model: Model, seed = 1): FewShotDemo {
  return new FewShotDemo(model, model.init(Rng.fromSeed(seed)), adaptationOf(SETTINGS));
}

test('adaptationOf takes the run\'s eval steps, batch and inner optimizer; a broken config is an error', () => {
  const a = adaptationOf(SETTINGS);
  assert.equal(a.evalIters, 20);
  assert.equal(a.evalBatch, 5);
  assert.equal(a.transductive, false);
  assert.throws(() => adaptationOf({ ...SETTINGS, evalIters: undefined as unknown as number }), /evalIters/);
  assert.throws(() => adaptationOf({ ...SETTINGS, innerOptimizer: 'rmsprop' as 'sgd' }), /innerOptimizer/);
});

for (const kind of ['mlp', 'conv'] as const) {
  test(`${kind}: the page adapts and predicts exactly as reptile eval's adaptToSupport and predictQueries`, async () => {
    const model = kind === 'mlp' ? mlp([784, 16, 3], { activation: 'relu', init: 'tensorflow' }) : conv({ variant: 'omniglot', classes: 3, inputShape: [28, 28, 1], filters: 4, init: 'tensorflow' });
    const demo = demoFor(model);
    const support = examples([0, 2]);
    const queries = examples([1]);
    await demo.adapt(support, 7);
    const ours = await demo.classify(queries.x);
    // The reference: eval's functions on the same data, seed and settings.
    const layout = demo.layout;
    const flat = (e: LabelledExamples) => ({ count: e.x.length, x: Float32Array.from(e.x.flatMap((v) => Array.from(v))), y: Int32Array.from(e.y) });
    const reference = (await adaptToSupport(model, demo.loss, layout, demo.metaParams, flat(support), demo.adaptation, Rng.fromSeed(7))).device;
    const s = toBatch(layout, flat(support));
    const q = toBatch(layout, flat(queries));
    const predicted = predictQueries(model, reference, s.x, q.x, false);
    assert.deepEqual(ours.classes, Array.from(await predicted.data()));
    assert.deepEqual(await values(demo.params), await values(reference), 'the same adapted parameters');
    disposeParams(reference);
    for (const t of [predicted, s.x, s.y, q.x, q.y]) t.dispose();
    demo.dispose();
  });
}

test('MLP from a random initialisation: 3 examples of 3 distinct symbols are enough to classify new ones', async () => {
  const demo = demoFor(mlp([784, 64, 64, 3], { activation: 'relu', init: 'tensorflow' }), 3);
  const heldOut = examples([-2, 1, 3]);
  const support = examples([-1, 0, 2]);
  const before = await demo.accuracy(heldOut, support);
  const timing = await demo.adapt(support, 0);
  assert.equal(timing.steps, 20);
  assert.ok(timing.msPerStep > 0);
  const after = await demo.accuracy(heldOut);
  assert.equal(after, 1, `accuracy after adaptation ${after} (before ${before})`);
  demo.dispose();
});

test('many adapt/classify rounds leak no tensors, and the meta-parameters never change', async () => {
  const demo = demoFor(mlp([784, 16, 3], { activation: 'relu', init: 'tensorflow' }));
  const meta = await values(demo.metaParams);
  const support = examples([0]);
  await demo.adapt(support, 0);
  await demo.classify(examples([1]).x);
  demo.reset();
  const start = tf.memory().numTensors;
  for (let round = 0; round < 15; round++) {
    await demo.adapt(support, round);
    await demo.classify(examples([1]).x);
    await demo.accuracy(examples([2]), support);
    demo.reset();
    await demo.accuracy(examples([2]), support);
  }
  assert.equal(tf.memory().numTensors, start);
  assert.deepEqual(await values(demo.metaParams), meta);
  demo.dispose();
});

test('bad input: no examples, or a label outside the model\'s classes', async () => {
  const demo = demoFor(mlp([784, 8, 3], { activation: 'relu', init: 'tensorflow' }));
  await assert.rejects(demo.adapt({ x: [], y: [] }, 0), /no examples/);
  await assert.rejects(demo.adapt({ x: [symbol(0, 0)], y: [3] }, 0), /outside 0..2/);
  await assert.rejects(demo.adapt({ x: [new Float32Array(10)], y: [0] }, 0), /10 values, the model takes 784/);
  demo.dispose();
});

test('fitSine: step 0 is the starting network, the meta-learned fit approaches the clicked points, nothing leaks', async () => {
  const model = mlp([1, 32, 32, 1], { activation: 'tanh', init: 'pytorch' });
  const meta = model.init(Rng.fromSeed(0));
  const xs = [-4, -2, -1, 0, 1, 2, 3, 4];
  const points = { x: xs, y: xs.map((x) => 2 * Math.sin(x + 1)) };
  const adaptation = adaptationOf({ ...SETTINGS, benchmark: 'sine', evalIters: 32, evalBatch: 8, innerOptimizer: 'sgd', learningRate: 0.05 });
  await fitSine(model, meta, points, adaptation, 1);
  const start = tf.memory().numTensors;
  const fits = await fitSine(model, meta, points, adaptation, 1);
  assert.equal(tf.memory().numTensors, start);
  assert.equal(fits.metaLearned.length, 33);
  assert.equal(fits.fromScratch.length, 33);
  const grid = tf.tensor2d(Array.from(fits.grid), [fits.grid.length, 1]);
  const initial = model.apply(meta, grid);
  assert.deepEqual(Array.from(fits.metaLearned[0]), Array.from(await initial.data()));
  tf.dispose([grid, initial]);
  const mseAt = (curve: Float32Array) => {
    let sum = 0;
    for (const [i, x] of xs.entries()) {
      const g = Array.from(fits.grid).reduce((best, gx, j) => (Math.abs(gx - x) < Math.abs(fits.grid[best] - x) ? j : best), 0);
      sum += (curve[g] - points.y[i]) ** 2;
    }
    return sum / xs.length;
  };
  assert.ok(mseAt(fits.metaLearned[32]) < mseAt(fits.metaLearned[0]) / 2, `MSE ${mseAt(fits.metaLearned[0])} -> ${mseAt(fits.metaLearned[32])}`);
  assert.notDeepEqual(Array.from(fits.fromScratch[0]), Array.from(fits.metaLearned[0]), 'from scratch starts elsewhere');
  disposeParams(meta);
});
