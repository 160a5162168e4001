/**
 * The embedding-bag model (src/nn/embedding-bag.ts): its output is the mean of the texts'
 * feature embeddings through the MLP head, computed by hand from the tokenizer's ids; gradients of
 * the table against central finite differences; the saved model round-trips and loads with
 * tf.loadLayersModel giving the same logits; tensors stay flat over many training steps; and the
 * head resizing that `reptile adapt` uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { Rng } from '../src/core/rng.js';
import { embeddingBag, type EmbeddingBagSpec } from '../src/nn/embedding-bag.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam } from '../src/nn/optimizers.js';
import { disposeBatch, lossAndGradients, trainStep } from '../src/algorithms/inner-loop.js';
import { tokenizer } from '../src/text/tokenizer.js';
import { resizeHead } from '../src/text/intent-classifier.js';
import { loadModel, saveModel } from '../src/io/model-files.js';

await useBackend('wasm');

const spec: EmbeddingBagSpec = {
  kind: 'embedding-bag',
  tokenizer: { kind: 'hashed-ngrams', hash: 'fnv1a32', buckets: 64, maxTokens: 32, wordNgrams: 2, charNgrams: [3] },
  dim: 4,
  hidden: [5],
  classes: 3,
  activation: 'relu',
  init: 'pytorch',
};
const texts = ['transfer money to savings', 'what is the weather', 'a'];
const tok = tokenizer(spec.tokenizer);
function bags(list: string[]): tf.Tensor2D {
  const x = new Float32Array(list.length * 64);
  list.forEach((t, i) => tok.bagInto(t, x, i * 64));
  return tf.tensor2d(x, [list.length, 64]);
}

test('logits = MLP head of the mean of the features\' embedding rows (by hand)', () => {
  const model = embeddingBag(spec);
  const params = model.init(Rng.fromSeed(3));
  assert.deepEqual(Object.keys(params), ['embedding/kernel', 'dense0/kernel', 'dense0/bias', 'dense1/kernel', 'dense1/bias']);
  const host = Object.fromEntries(Object.entries(params).map(([n, p]) => [n, Array.from(p.dataSync())]));
  const x = bags(texts);
  const logits = model.apply(params, x).arraySync() as number[][];
  texts.forEach((text, t) => {
    const ids = tok.ids(text);
    const mean = [0, 1, 2, 3].map((d) => ids.reduce((s, id) => s + host['embedding/kernel'][id * 4 + d], 0) / ids.length);
    const hidden = [0, 1, 2, 3, 4].map((j) => Math.max(0, host['dense0/bias'][j] + mean.reduce((s, m, d) => s + m * host['dense0/kernel'][d * 5 + j], 0)));
    const out = [0, 1, 2].map((k) => host['dense1/bias'][k] + hidden.reduce((s, h, j) => s + h * host['dense1/kernel'][j * 3 + k], 0));
    out.forEach((v, k) => assert.ok(Math.abs(v - logits[t][k]) < 1e-5, `text ${t} logit ${k}: ${logits[t][k]} vs ${v}`));
  });
  x.dispose();
  disposeParams(params);
});

test('gradients of the embedding table match central finite differences', () => {
  const model = embeddingBag({ ...spec, activation: 'tanh' });
  const params = model.init(Rng.fromSeed(4));
  const batch = { x: bags(texts), y: tf.tensor1d([0, 2, 1], 'int32') };
  const loss = crossEntropy('sum');
  const { loss: value, grads } = lossAndGradients(model, loss, params, batch);
  value.dispose();
  const table = params['embedding/kernel'].dataSync();
  const g = grads['embedding/kernel'].dataSync();
  const lossAt = (values: Float32Array) => tf.tidy(() => {
    const p = { ...params, 'embedding/kernel': tf.tensor2d(values, [64, 4]) };
    return loss(model.apply(p, batch.x), batch.y).dataSync()[0];
  });
  const used = new Set(texts.flatMap((t) => tok.ids(t)));
  let checked = 0;
  for (let id = 0; id < 64; id++) {
    for (let d = 0; d < 4; d++) {
      const i = id * 4 + d;
      if (!used.has(id)) {
        assert.equal(g[i], 0, 'a row no text uses gets no gradient');
        continue;
      }
      const h = 1e-2;
      const plus = Float32Array.from(table);
      const minus = Float32Array.from(table);
      plus[i] += h;
      minus[i] -= h;
      const fd = (lossAt(plus) - lossAt(minus)) / (2 * h);
      assert.ok(Math.abs(fd - g[i]) < 2e-3 + 2e-2 * Math.abs(fd), `d loss / d E[${id}, ${d}]: ${g[i]} vs ${fd}`);
      checked++;
    }
  }
  assert.ok(checked > 20);
  disposeParams(grads);
  disposeBatch(batch);
  disposeParams(params);
});

// ---------------------------------------------------------------- the weighted embedding bag

const weightedSpec: EmbeddingBagSpec = { ...spec, weighting: 'learned' };

/** The weighted model's parameters with a non-zero importance (u in [-1, 1] per feature). */
function weightedParams(seed: number): ParamSet {
  const params = embeddingBag(weightedSpec).init(Rng.fromSeed(seed));
  const rng = Rng.fromSeed(seed + 100);
  params['embedding/importance'].dispose();
  return { ...params, 'embedding/importance': tf.tensor1d(Array.from({ length: 64 }, () => rng.uniform(-1, 1))) };
}

const saved: Array<[string, EmbeddingBagSpec, () => ParamSet]> = [
  ['plain mean', spec, () => embeddingBag(spec).init(Rng.fromSeed(5))],
  ['weighted mean (the custom layer)', weightedSpec, () => weightedParams(5)],
];
for (const [label, modelSpec, makeParams] of saved) test(`saved and loaded (ours and tf.loadLayersModel) the model gives the same logits: ${label}`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'reptile-text-model-'));
  try {
    const model = embeddingBag(modelSpec);
    const params = makeParams();
    await saveModel(dir, model, params);
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.model.spec, modelSpec);
    assert.deepEqual(Object.keys(loaded.params), Object.keys(params));
    const x = bags(texts);
    const expected = model.apply(params, x).arraySync();
    assert.deepEqual(loaded.model.apply(loaded.params, x).arraySync(), expected);
    // As a user of tfjs would load it: model.json's topology and the weights file.
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const bytes = await readFile(join(dir, 'weights.bin'));
    const layers = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }),
    );
    const got = (layers.predict(x) as tf.Tensor).arraySync() as number[][];
    (expected as number[][]).forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - got[i][k]) < 1e-5)));
    layers.dispose();
    x.dispose();
    disposeParams(params);
    disposeParams(loaded.params);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const [label, modelSpec] of [['plain', spec], ['weighted', { ...spec, weighting: 'learned' as const }]] as const) test(`training steps leave the tensor count flat (${label} mean)`, () => {
  const model = embeddingBag(modelSpec);
  const optimizer = adam({ learningRate: 0.01, beta1: 0 });
  let params = model.init(Rng.fromSeed(6));
  let state = optimizer.init(params);
  const batch = { x: bags(texts), y: tf.tensor1d([0, 1, 2], 'int32') };
  const before = tf.memory().numTensors;
  let first = 0;
  let last = 0;
  for (let i = 0; i < 100; i++) {
    const next = trainStep(model, crossEntropy('sum'), optimizer, params, state, batch);
    disposeParams(params);
    for (const slot of Object.values(state.slots)) disposeParams(slot);
    params = next.params;
    state = next.state;
    if (i === 0) first = next.loss.dataSync()[0];
    if (i === 99) last = next.loss.dataSync()[0];
    next.loss.dispose();
    assert.equal(tf.memory().numTensors, before, `step ${i}`);
  }
  assert.ok(last < first / 10, `the loss falls (${first} -> ${last})`);
  disposeBatch(batch);
  disposeParams(params);
  for (const slot of Object.values(state.slots)) disposeParams(slot);
});

test('resizeHead keeps the first K output columns, or appends columns equal to the mean', () => {
  const params = embeddingBag(spec).init(Rng.fromSeed(7));
  const before = tf.memory().numTensors;
  const kernel = params['dense1/kernel'].arraySync() as number[][];
  const bias = Array.from(params['dense1/bias'].dataSync());
  const small = resizeHead(spec, params, 2);
  assert.equal(small.model.outputSize, 2);
  assert.deepEqual(small.params['dense1/kernel'].arraySync(), kernel.map((r) => r.slice(0, 2)));
  assert.deepEqual(Object.keys(small.params), Object.keys(params));
  const big = resizeHead(spec, params, 5);
  const k5 = big.params['dense1/kernel'].arraySync() as number[][];
  k5.forEach((row, j) => {
    const mean = kernel[j].reduce((a, b) => a + b, 0) / 3;
    assert.deepEqual(row.slice(0, 3), kernel[j]);
    for (const v of row.slice(3)) assert.ok(Math.abs(v - mean) < 1e-6);
  });
  const b5 = Array.from(big.params['dense1/bias'].dataSync());
  assert.deepEqual(b5.slice(0, 3), bias);
  assert.deepEqual(big.params['embedding/kernel'].dataSync(), params['embedding/kernel'].dataSync());
  disposeParams(small.params);
  disposeParams(big.params);
  assert.equal(tf.memory().numTensors, before);
  disposeParams(params);
});

test('weighted embedding bag: logits = head of sum_f e^(s_f) E_f / sum_f e^(s_f) over the features (by hand); the plain mean at s = 0', () => {
  const model = embeddingBag(weightedSpec);
  const fresh = model.init(Rng.fromSeed(3));
  assert.deepEqual(Object.keys(fresh), ['embedding/kernel', 'embedding/importance', 'dense0/kernel', 'dense0/bias', 'dense1/kernel', 'dense1/bias']);
  assert.deepEqual(Array.from(fresh['embedding/importance'].dataSync()), new Array(64).fill(0));
  const x = bags(texts);
  // At s = 0 it is the plain model with the same table and head.
  const plain = embeddingBag(spec).init(Rng.fromSeed(3));
  const a = model.apply(fresh, x).arraySync() as number[][];
  const b = embeddingBag(spec).apply(plain, x).arraySync() as number[][];
  a.forEach((row, t) => row.forEach((v, k) => assert.ok(Math.abs(v - b[t][k]) < 1e-6)));
  disposeParams(plain);
  disposeParams(fresh);

  const params = weightedParams(3);
  const host = Object.fromEntries(Object.entries(params).map(([n, p]) => [n, Array.from(p.dataSync())]));
  const logits = model.apply(params, x).arraySync() as number[][];
  texts.forEach((text, t) => {
    const ids = tok.ids(text);
    const w = ids.map((id) => Math.exp(host['embedding/importance'][id]));
    const total = w.reduce((s, v) => s + v, 0);
    const mean = [0, 1, 2, 3].map((d) => ids.reduce((s, id, i) => s + w[i] * host['embedding/kernel'][id * 4 + d], 0) / total);
    const hidden = [0, 1, 2, 3, 4].map((j) => Math.max(0, host['dense0/bias'][j] + mean.reduce((s, m, d) => s + m * host['dense0/kernel'][d * 5 + j], 0)));
    const out = [0, 1, 2].map((k) => host['dense1/bias'][k] + hidden.reduce((s, h, j) => s + h * host['dense1/kernel'][j * 3 + k], 0));
    out.forEach((v, k) => assert.ok(Math.abs(v - logits[t][k]) < 1e-5, `text ${t} logit ${k}: ${logits[t][k]} vs ${v}`));
  });
  // A text without features: the head of the zero vector, not NaN.
  const empty = bags(['!!!']);
  const zero = model.apply(params, empty).arraySync() as number[][];
  const headOfZero = [0, 1, 2].map((k) => host['dense1/bias'][k] + [0, 1, 2, 3, 4].reduce((s, j) => s + Math.max(0, host['dense0/bias'][j]) * host['dense1/kernel'][j * 3 + k], 0));
  zero[0].forEach((v, k) => assert.ok(Math.abs(v - headOfZero[k]) < 1e-6, `empty text logit ${k}: ${v}`));
  empty.dispose();
  x.dispose();
  disposeParams(params);
});

test('weighted embedding bag: gradients of the importance and the table match central finite differences', () => {
  const model = embeddingBag({ ...weightedSpec, activation: 'tanh' });
  const params = weightedParams(4);
  const batch = { x: bags(texts), y: tf.tensor1d([0, 2, 1], 'int32') };
  const loss = crossEntropy('sum');
  const { loss: value, grads } = lossAndGradients(model, loss, params, batch);
  value.dispose();
  const used = [...new Set(texts.flatMap((t) => tok.ids(t)))];
  let checked = 0;
  for (const [name, shape] of [['embedding/importance', [64]], ['embedding/kernel', [64, 4]]] as const) {
    const values = params[name].dataSync();
    const g = grads[name].dataSync();
    const width = name === 'embedding/kernel' ? 4 : 1;
    for (let id = 0; id < 64; id++) {
      for (let d = 0; d < width; d++) {
        const i = id * width + d;
        if (!used.includes(id)) {
          assert.equal(g[i], 0, `${name}: a feature no text has gets no gradient`);
          continue;
        }
        const lossAt = (delta: number) => tf.tidy(() => {
          const v = Float32Array.from(values);
          v[i] += delta;
          return loss(model.apply({ ...params, [name]: tf.tensor(v, shape as unknown as number[]) }, batch.x), batch.y).dataSync()[0];
        });
        const h = 1e-2;
        const fd = (lossAt(h) - lossAt(-h)) / (2 * h);
        assert.ok(Math.abs(fd - g[i]) < 2e-3 + 2e-2 * Math.abs(fd), `d loss / d ${name}[${i}]: ${g[i]} vs ${fd}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 40);
  disposeParams(grads);
  disposeBatch(batch);
  disposeParams(params);
});
