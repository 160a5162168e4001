/**
 * Model export and import: saveModel/loadModel round trips, the files load as an ordinary
 * tfjs-layers model, and a damaged model directory is a clear error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, appendFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import type { Model } from '../src/nn/model.js';
import { loadModel, saveModel } from '../src/io/model-files.js';

let dir: string;

before(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'reptile-io-model-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Inputs for a model with `inputs` features: a few rows of distinct values. */
function inputs(rows: number, features: number): tf.Tensor2D {
  return tf.tensor2d(Array.from({ length: rows * features }, (_, i) => Math.sin(1.3 * i) * 4), [rows, features]);
}

async function values(params: ParamSet): Promise<Record<string, { shape: number[]; data: number[] }>> {
  const out: Record<string, { shape: number[]; data: number[] }> = {};
  for (const [name, t] of Object.entries(params)) out[name] = { shape: t.shape, data: Array.from(await t.data()) };
  return out;
}

const MODELS: { name: string; model: () => Model }[] = [
  { name: 'sine MLP 1-64-64-1 tanh', model: () => mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' }) },
  // Non-square layers catch transposed kernels; several outputs catch a mixed-up output layer.
  { name: 'MLP 3-5-4-2 relu', model: () => mlp([3, 5, 4, 2], { activation: 'relu', init: 'tensorflow' }) },
];

describe('saveModel / loadModel round trip', () => {
  for (const [i, { name, model: make }] of MODELS.entries()) {
    test(name, async () => {
      const model = make();
      const params = model.init(Rng.fromSeed(10 + i));
      // TensorFlow-style init has zero biases: give them values so that they are checked too.
      const shifted: ParamSet = Object.fromEntries(Object.entries(params).map(([n, p], k) => [n, tf.add(p, 0.01 * (k + 1))]));
      const target = join(dir, `round-trip-${i}`);
      await saveModel(target, model, shifted, { benchmark: 'test', seed: 10 + i });
      assert.deepEqual((await readdir(target)).sort(), ['model.json', 'weights.bin'], 'no temporary files left');

      const loaded = await loadModel(target);
      assert.deepEqual(loaded.model.spec, model.spec);
      assert.deepEqual(Object.keys(loaded.params), Object.keys(shifted), 'same names in the same order');
      assert.deepEqual(await values(loaded.params), await values(shifted));
      assert.equal(loaded.json.userDefinedMetadata.reptile.benchmark, 'test');
      assert.equal(loaded.json.userDefinedMetadata.reptile.seed, 10 + i);

      const x = inputs(9, model.inputShape[0]);
      const expected = model.apply(shifted, x);
      const actual = loaded.model.apply(loaded.params, x);
      assert.deepEqual(actual.shape, [9, model.outputSize]);
      assert.deepEqual(Array.from(await actual.data()), Array.from(await expected.data()));
      tf.dispose([x, expected, actual]);
      disposeParams(loaded.params);
      disposeParams(shifted);
      disposeParams(params);
    });
  }
});

describe('the saved files are an ordinary TensorFlow.js layers model', () => {
  for (const [i, { name, model: make }] of MODELS.entries()) {
    test(name, async () => {
      const model = make();
      const params = model.init(Rng.fromSeed(20 + i));
      const target = join(dir, `layers-${i}`);
      await saveModel(target, model, params);
      const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
      assert.equal(json.format, 'layers-model');
      const bytes = await readFile(join(target, 'weights.bin'));
      const layers = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest.flatMap((g: { weights: tf.io.WeightsManifestEntry[] }) => g.weights),
          weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
        }),
      );
      // Same weights in the same order as the parameter set.
      const names = Object.keys(params);
      const weights = layers.getWeights();
      assert.equal(weights.length, names.length);
      for (const [k, w] of weights.entries()) {
        assert.deepEqual(w.shape, params[names[k]].shape, `weight ${k} (${names[k]}) shape`);
        assert.deepEqual(Array.from(await w.data()), Array.from(await params[names[k]].data()), `weight ${k} (${names[k]})`);
      }
      const x = inputs(11, model.inputShape[0]);
      const fromLayers = layers.predict(x) as tf.Tensor;
      const fromModel = model.apply(params, x);
      assert.deepEqual(fromLayers.shape, fromModel.shape);
      const a = await fromLayers.data();
      const b = await fromModel.data();
      for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-5 * (1 + Math.abs(b[k])), `prediction ${k}: layers ${a[k]}, functional ${b[k]}`);
      tf.dispose([x, fromLayers, fromModel]);
      layers.dispose();
      disposeParams(params);
    });
  }
});

describe('a damaged model directory is a clear error', () => {
  const model = mlp([1, 8, 8, 1], { activation: 'tanh' });

  async function saved(name: string): Promise<string> {
    const params = model.init(Rng.fromSeed(1));
    const target = join(dir, name);
    await saveModel(target, model, params);
    disposeParams(params);
    return target;
  }

  test('truncated weights.bin', async () => {
    const target = await saved('truncated');
    await truncate(join(target, 'weights.bin'), 100);
    await assert.rejects(loadModel(target), (error: Error) => {
      assert.match(error.message, /truncated or corrupt/);
      assert.ok(error.message.includes(target), error.message);
      return true;
    });
  });

  test('weights.bin cut at an odd byte', async () => {
    const target = await saved('odd');
    await truncate(join(target, 'weights.bin'), 101);
    await assert.rejects(loadModel(target), /truncated or corrupt/);
  });

  test('weights.bin with extra bytes', async () => {
    const target = await saved('extra');
    await appendFile(join(target, 'weights.bin'), Buffer.alloc(12));
    await assert.rejects(loadModel(target), /truncated or corrupt/);
  });

  test('missing weights.bin', async () => {
    const target = await saved('no-weights');
    await rm(join(target, 'weights.bin'));
    await assert.rejects(loadModel(target), /weights\.bin/);
  });

  test('model.json cut short', async () => {
    const target = await saved('bad-json');
    const text = await readFile(join(target, 'model.json'), 'utf8');
    await writeFile(join(target, 'model.json'), text.slice(0, text.length / 2));
    await assert.rejects(loadModel(target), (error: Error) => {
      assert.match(error.message, /model\.json/);
      assert.match(error.message, /not valid JSON/);
      return true;
    });
  });

  test('a model.json not written by reptile', async () => {
    const target = await saved('foreign');
    const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
    delete json.userDefinedMetadata;
    await writeFile(join(target, 'model.json'), JSON.stringify(json));
    await assert.rejects(loadModel(target), /not written by reptile/);
  });

  test('missing directory', async () => {
    await assert.rejects(loadModel(join(dir, 'nowhere')), /ENOENT.*model\.json|model\.json.*ENOENT/);
  });
});
