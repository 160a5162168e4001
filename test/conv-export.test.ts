/**
 * Export of the CNNs in TensorFlow.js model format: the files hold an equivalent tfjs-layers
 * model (conv2d, batchNormalization, maxPooling2d, dense), `modelFromArtifacts` / `loadModel`
 * rebuild the functional model and its parameters exactly, and the loaded LayersModel computes
 * the same function when its batch norm uses batch statistics (`training: true`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramNames, type ParamSet } from '../src/core/params.js';
import { miniImageNetConv, omniglotConv } from '../src/nn/conv.js';
import type { ConvSpec, Model, ModelWithSpec } from '../src/nn/model.js';
import { modelFromArtifacts, toArtifacts, toLayersModel } from '../src/io/model-format.js';
import { loadModel, saveModel } from '../src/io/model-files.js';

let dir: string;
before(async () => {
  await tf.setBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'reptile-conv-export-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MODELS: { name: string; model: () => ModelWithSpec<ConvSpec> }[] = [
  { name: 'Omniglot CNN (28x28x1, 64 filters, 5-way)', model: () => omniglotConv(5) },
  { name: 'Mini-ImageNet CNN (84x84x3, 32 filters, 5-way)', model: () => miniImageNetConv(5) },
  { name: 'Mini-ImageNet CNN, odd sizes (21x19x2, 6 filters, 4-way, pytorch init)', model: () => miniImageNetConv(4, { inputShape: [21, 19, 2], filters: 6, init: 'pytorch' }) },
];

/** Parameters with every entry distinct from the init (zero biases, unit gammas would hide mix-ups). */
function distinctParams(model: Model, seed: number): ParamSet {
  const init = model.init(Rng.fromSeed(seed));
  const rng = Rng.fromSeed(seed + 1);
  const out = Object.fromEntries(
    Object.entries(init).map(([n, p]) => [n, tf.tidy(() => tf.add(p, tf.tensor(Float32Array.from({ length: p.size }, () => rng.uniform(-0.1, 0.1)), p.shape)))]),
  );
  disposeParams(init);
  return out;
}

function input(model: Model, batch: number, seed: number): tf.Tensor {
  const rng = Rng.fromSeed(seed);
  const shape = [batch, ...model.inputShape];
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(0, 1)), shape);
}

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

describe('conv model export', () => {
  MODELS.forEach(({ name, model: make }, i) => {
    test(`${name}: artifacts round trip, and the LayersModel computes the same function`, async () => {
      const model = make();
      const params = distinctParams(model, 10 * i);
      const { json, weights } = await toArtifacts(model, params, { benchmark: 'test' });

      const topology = JSON.stringify(json.modelTopology);
      for (const cls of ['Conv2D', 'BatchNormalization', 'Flatten', 'Dense']) assert.ok(topology.includes(`"${cls}"`), `topology has ${cls}`);
      assert.equal(topology.includes('"MaxPooling2D"'), model.spec.kind === 'conv' && model.spec.variant === 'miniimagenet');
      const names = json.weightsManifest.flatMap((g) => g.weights.map((w) => w.name));
      assert.ok(names.includes('bn0/moving_mean') && names.includes('bn3/moving_variance'), 'moving statistics are in the file');

      const loaded = modelFromArtifacts(json, weights);
      assert.deepEqual(loaded.model.spec, model.spec);
      assert.deepEqual(paramNames(loaded.params), paramNames(params), 'same names in the same order');
      for (const n of paramNames(params)) {
        assert.deepEqual(loaded.params[n].shape, params[n].shape, n);
        assert.deepEqual(await loaded.params[n].data(), await params[n].data(), n);
      }

      // The files load as an ordinary tfjs-layers model.
      const layers = await tf.loadLayersModel(
        tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: json.weightsManifest[0].weights, weightData: weights.slice().buffer }),
      );
      const x = input(model, 6, 100 + i);
      const ours = await model.apply(params, x).data();
      const withBatchStats = layers.apply(x, { training: true }) as tf.Tensor;
      const error = maxRelativeError(await withBatchStats.data(), ours);
      assert.ok(error < 1e-4, `LayersModel (training: true) vs functional model: relative error ${error}`);
      // Inference mode normalises with the moving statistics (mean 0, variance 1): a different function.
      const inference = layers.predict(x) as tf.Tensor;
      assert.deepEqual(inference.shape, [6, model.outputSize]);
      assert.ok((await inference.data()).every(Number.isFinite));
      assert.ok((await loaded.model.apply(loaded.params, x).data()).every((v, k) => v === ours[k]), 'the rebuilt model computes the same outputs');

      tf.dispose([x, withBatchStats, inference]);
      layers.dispose();
      disposeParams(params);
      disposeParams(loaded.params);
    });
  });

  test('saveModel / loadModel on disk for a conv model', async () => {
    const model = omniglotConv(5);
    const params = distinctParams(model, 77);
    const target = join(dir, 'omniglot');
    await saveModel(target, model, params, { seed: 77 });
    const loaded = await loadModel(target);
    assert.deepEqual(loaded.model.spec, model.spec);
    for (const n of paramNames(params)) assert.deepEqual(await loaded.params[n].data(), await params[n].data(), n);
    disposeParams(params);
    disposeParams(loaded.params);
  });

  test('toLayersModel leaks no tensors beyond its own weights', () => {
    const model = omniglotConv(3, { filters: 4 });
    const params = model.init(Rng.fromSeed(5));
    const before = tf.memory().numTensors;
    const layers = toLayersModel(model, params);
    layers.dispose();
    assert.equal(tf.memory().numTensors, before);
    disposeParams(params);
  });
});
