/**
 * The few-shot page's held-out accuracy against `reptile eval`'s on the same tasks (issue 18).
 * The page's whole path runs in Node: its samples file (sampleCharacters, through JSON, then
 * decodeSamples), its "sample" button's draws (samplePageTask with the page's seed, then the
 * adaptation seed it draws), the model it loads (the exported artifacts) and FewShotDemo's
 * adapt and accuracy. `reptile eval`'s path scores the same characters' same drawings, read from
 * the split as the episode sampler reads them, with taskAccuracy (the fused kernels' adaptation
 * and predictions where they apply) on the model built from the settings. Every task's accuracy
 * must be equal: a difference in the pixels, the model export, the adaptation (optimizer, steps,
 * minibatches) or the prediction protocol (batch norm with the support set and one query) shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import type { Model } from '../src/nn/model.js';
import { crossEntropy } from '../src/nn/losses.js';
import { modelFromArtifacts, toArtifacts } from '../src/io/model-format.js';
import { taskAccuracy } from '../src/eval/classification.js';
import { storedClassSet, type ImageClassSet } from '../src/data/image-class.js';
import { splitOmniglot } from '../src/data/splits.js';
import { loadOmniglot } from '../src/io/omniglot-files.js';
import { datasetCacheDir } from '../src/io/dataset-cache.js';
import { FewShotDemo, adaptationOf, decodeSamples, sampleCharacters, samplePageTask, type RunSettings } from '../src/demo/index.js';
import type { Examples } from '../src/tasks/task.js';
import { OMNIGLOT_DATA, omniglotRequirement } from './support/require.js';

await useBackend('wasm');

/** An Omniglot run's evaluation settings (the defaults of `reptile train omniglot`; the CNN, from its initialisation, at a larger rate). */
const MLP_SETTINGS: RunSettings = {
  benchmark: 'omniglot', algorithm: 'reptile', classes: 5, shots: 1, evalIters: 50, evalBatch: 5, seed: 0,
  innerOptimizer: 'adam', learningRate: 0.001, momentum: 0, adamBeta1: 0, adamBeta2: 0.999,
};
const CNN_SETTINGS: RunSettings = { ...MLP_SETTINGS, learningRate: 0.01 };

/** 45 synthetic characters of 20 drawings: random strokes, each drawing shifted and speckled. */
function syntheticSplit(): ImageClassSet {
  const rng = Rng.fromSeed(3);
  const classes = Array.from({ length: 45 }, (_, c) => {
    const template = new Uint8Array(28 * 28);
    for (let stroke = 0; stroke < 3; stroke++) {
      const [r, col, horizontal] = [4 + rng.int(20), 4 + rng.int(20), rng.int(2) === 0];
      for (let i = 0; i < 12; i++) template[Math.min(27, r + (horizontal ? 0 : i)) * 28 + Math.min(27, col + (horizontal ? i : 0))] = 255;
    }
    const images = new Uint8Array(20 * 28 * 28);
    for (let d = 0; d < 20; d++) {
      const [dr, dc] = [rng.int(3) - 1, rng.int(3) - 1];
      for (let r = 0; r < 28; r++) for (let q = 0; q < 28; q++) images[d * 784 + r * 28 + q] = template[Math.min(27, Math.max(0, r - dr)) * 28 + Math.min(27, Math.max(0, q - dc))];
      for (let k = 0; k < 20; k++) images[d * 784 + rng.int(784)] = rng.int(256);
    }
    return { name: `Synthetic/character${String(c).padStart(2, '0')}`, count: 20, images };
  });
  return storedClassSet(classes, 28, 1);
}

/** The drawings `indices` of `split`'s class `name`, as the episode sampler reads them. */
function drawingsOf(split: ImageClassSet, picks: { name: string; indices: number[] }[]): Examples {
  const count = picks.reduce((n, p) => n + p.indices.length, 0);
  const x = new Float32Array(count * 784);
  const y = new Int32Array(count);
  let n = 0;
  picks.forEach(({ name, indices }, label) => {
    const cls = split.classes.find((c) => c.name === name)!;
    for (const i of indices) (cls.image(i, x, n * 784), (y[n++] = label));
  });
  return { count, x, y };
}

/** Each of the page's first `tasks` sampled tasks scored by the page's path and by eval's. */
async function bothPaths(split: ImageClassSet, { model, settings }: { model: Model; settings: RunSettings }, tasks: number): Promise<{ page: number[]; evaluation: number[] }> {
  const params = model.init(Rng.fromSeed(1));
  const { json, weights } = await toArtifacts(model, params);
  const loaded = modelFromArtifacts(json, weights);
  const demo = new FewShotDemo(loaded.model, loaded.params, adaptationOf(settings));
  const samples = decodeSamples(JSON.parse(JSON.stringify(sampleCharacters(split, 40, settings.seed))));
  const layout = { inputShape: [28, 28, 1], targetShape: [], kind: 'classification' as const };
  const evalOptions = { ...adaptationOf(settings), kernels: 'all' as const };
  // The page's generator: seeded with the run's seed, drawing the task, then the adaptation's seed.
  const rng = Rng.fromSeed(settings.seed);
  const page: number[] = [];
  const evaluation: number[] = [];
  for (let t = 0; t < tasks; t++) {
    const task = samplePageTask(samples, demo.ways, settings.shots, rng);
    const adaptSeed = rng.int(2 ** 31);
    await demo.adapt(task.support, adaptSeed);
    page.push(await demo.accuracy(task.heldOut));
    const names = task.picks.map((p) => samples[p.character].name);
    const support = drawingsOf(split, task.picks.map((p, c) => ({ name: names[c], indices: p.support })));
    const query = drawingsOf(split, task.picks.map((p, c) => ({ name: names[c], indices: p.heldOut })));
    evaluation.push(await taskAccuracy(model, crossEntropy('sum'), layout, params, { support, query }, evalOptions, Rng.fromSeed(adaptSeed)));
  }
  demo.dispose();
  disposeParams(params);
  return { page, evaluation };
}

const MODELS: Record<string, () => { model: Model; settings: RunSettings }> = {
  mlp: () => ({ model: mlp([784, 64, 64, 5], { activation: 'relu', init: 'tensorflow' }), settings: MLP_SETTINGS }),
  cnn: () => ({ model: conv({ variant: 'omniglot', classes: 5, inputShape: [28, 28, 1], filters: 8, init: 'tensorflow' }), settings: CNN_SETTINGS }),
};

test('samplePageTask: distinct characters, disjoint support and held-out drawings, the page\'s draws from its generator', () => {
  const samples = decodeSamples(sampleCharacters(syntheticSplit(), 40, 0));
  assert.equal(samples.length, 40);
  const rng = Rng.fromSeed(0);
  const task = samplePageTask(samples, 5, 2, rng);
  assert.equal(new Set(task.picks.map((p) => p.character)).size, 5);
  for (const p of task.picks) {
    assert.equal(p.support.length, 2);
    assert.equal(p.heldOut.length, 5);
    assert.equal(new Set([...p.support, ...p.heldOut]).size, 7);
  }
  assert.deepEqual(task.support.y, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  assert.equal(task.support.x[2], samples[task.picks[1].character].drawings[task.picks[1].support[0]]);
  // The page's order of draws: the pool's permutation, then each character's drawings.
  const replay = Rng.fromSeed(0);
  assert.deepEqual(task.picks.map((p) => p.character), replay.permutation(40).slice(0, 5));
  assert.deepEqual(task.picks[0].support, replay.permutation(20).slice(0, 2));
  assert.throws(() => samplePageTask(samples.slice(0, 3), 5, 1, rng), /5-way tasks need 5 characters, the samples have 3/);
});

for (const kind of Object.keys(MODELS)) {
  test(`${kind}: on the page's own sampled tasks, the page's accuracy equals reptile eval's, task by task (synthetic characters)`, async () => {
    const start = tf.memory().numTensors;
    const { page, evaluation } = await bothPaths(syntheticSplit(), MODELS[kind](), 6);
    assert.deepEqual(page, evaluation);
    // Not agreement by doing nothing: the adapted networks recognise the characters.
    assert.ok(page.reduce((a, b) => a + b, 0) / page.length > 0.5, `page accuracies ${page}`);
    assert.equal(tf.memory().numTensors, start);
  });
}

const skip = omniglotRequirement();
test('Omniglot test characters: the page\'s first 8 sampled 1-shot tasks score the same on the page as in reptile eval, MLP and CNN', { skip, timeout: 600_000 }, async (t) => {
  const data = await loadOmniglot(OMNIGLOT_DATA, { cacheDir: datasetCacheDir() });
  const split = splitOmniglot(data).test;
  for (const kind of Object.keys(MODELS)) {
    const { page, evaluation } = await bothPaths(split, MODELS[kind](), 8);
    assert.deepEqual(page, evaluation, kind);
    t.diagnostic(`${kind}: page ${page.join(' ')}; eval ${evaluation.join(' ')}`);
    assert.ok(page.reduce((a, b) => a + b, 0) / page.length > 0.2, `${kind}: accuracies ${page} (chance 0.2)`);
  }
});
