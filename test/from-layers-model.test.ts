/**
 * fromLayersModel (nn/from-layers-model.ts): a user's tf.sequential or functional tf.model as the
 * library's functional Model. Its parameters and outputs against the LayersModel's own; the
 * seeded reinit; the spec that buildModel, toLayersModel and model.json rebuild (round trips give
 * equal outputs); the one-line errors; a hand-written model without a spec; no tensor leaks.
 *
 * Outputs are compared in the mode that computes the same function: `predict` (inference) for
 * models without batch norm, where it equals training mode except for Dropout, which the
 * functional model treats as the identity (as inference does); `apply(x, { training: true })`
 * for models with batch norm, which the functional model always computes with the batch's
 * statistics (and which have no Dropout here: in training mode it would draw random masks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, mapParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { buildModel } from '../src/nn/build.js';
import { initKernel } from '../src/nn/init.js';
import { meanSquaredError } from '../src/nn/losses.js';
import type { Model } from '../src/nn/model.js';
import { sgd } from '../src/nn/optimizers.js';
import { modelFromArtifacts, toArtifacts, toLayersModel } from '../src/io/model-format.js';
import { TfjsLoop } from '../src/algorithms/tfjs-loop.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { innerLoopOnThreads } from '../src/parallel/worker-pool.js';
import { ParamStore } from '../src/core/param-store.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { evaluateRegression } from '../src/eval/regression.js';

await useBackend('wasm');

const sequentialMlp = () =>
  tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 8, activation: 'tanh' }),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 6, activation: 'relu', useBias: false }),
      tf.layers.dense({ units: 2 }),
    ],
  });

const sequentialCnn = () =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [9, 7, 2], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'linear' }),
      tf.layers.batchNormalization({ epsilon: 1e-2 }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
      tf.layers.conv2d({ filters: 3, kernelSize: [2, 1], padding: 'valid', activation: 'elu' }),
      tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
      tf.layers.reshape({ targetShape: [12] }),
      tf.layers.batchNormalization(),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });

/** A functional model: two branches added, concatenated with a third, over conv features. */
function functionalModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 1] });
  const conv = tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'sigmoid' }).apply(input) as tf.SymbolicTensor;
  const features = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(conv) as tf.SymbolicTensor;
  const a = tf.layers.dense({ units: 5, activation: 'relu6' }).apply(flat) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 5, activation: 'softplus' }).apply(features) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([sum, features]) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 2 }).apply(joined) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

const CASES = [
  { name: 'sequential MLP (Dropout, no-bias layer)', make: sequentialMlp, training: false },
  { name: 'sequential CNN (strided conv, batch norm on images and on features, max and average pooling, Reshape)', make: sequentialCnn, training: true },
  { name: 'functional model (Add, Concatenate, global pooling, Flatten)', make: functionalModel, training: false },
];

const inputFor = (model: Model, batch: number, seed: number) => tf.randomUniform([batch, ...model.inputShape], -1, 1, 'float32', seed);

/** What the LayersModel computes, in the mode that matches the functional model (see the top). */
const layersOutput = (m: tf.LayersModel, x: tf.Tensor, training: boolean) => (training ? (m.apply(x, { training: true }) as tf.Tensor) : (m.predict(x) as tf.Tensor));

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0];
  d.dispose();
  return v;
}

/** Parameters moved away from the model's own weights, so that a round trip that ignored them would show. */
const moved = (params: ParamSet, seed: number) => mapParams(params, (p, name) => tf.add(p, tf.randomUniform(p.shape, -0.3, 0.3, 'float32', seed + name.length)));

for (const { name, make, training } of CASES) {
  test(`${name}: parameters are the model's weights by name, and apply computes what the model computes`, async () => {
    const layersModel = make();
    const model = fromLayersModel(layersModel);
    const params = model.init(Rng.fromSeed(0));
    assert.deepEqual(Object.keys(params), layersModel.trainableWeights.map((w) => w.originalName));
    for (const w of layersModel.trainableWeights) assert.deepEqual(await params[w.originalName].data(), await w.read().data(), `${w.originalName} starts from the model's weight`);
    assert.equal(model.outputSize, (layersModel.outputs[0].shape[1] as number));
    assert.equal(model.batchStatistics, training);
    const x = inputFor(model, 5, 1);
    const [ours, theirs] = [model.apply(params, x), layersOutput(layersModel, x, training)];
    assert.ok((await maxDiff(ours, theirs)) < 1e-5);
    // The functional model also takes flattened examples, like the library's own.
    const flatOut = model.apply(params, x.reshape([5, -1]));
    assert.equal(await maxDiff(flatOut, ours), 0);
    tf.dispose([x, ours, theirs, flatOut]);
    disposeParams(params);
    layersModel.dispose();
  });

  test(`${name}: round trips (toLayersModel, model.json, buildModel) give equal outputs with the meta-learned parameters`, async () => {
    const layersModel = make();
    const model = fromLayersModel(layersModel);
    const names = layersModel.layers.map((l) => l.name);
    layersModel.dispose();
    const start = model.init(Rng.fromSeed(0));
    const params = moved(start, 3);
    disposeParams(start);
    const x = inputFor(model, 6, 2);
    const ours = model.apply(params, x);

    const back = toLayersModel(model, params);
    assert.deepEqual(back.layers.map((l) => l.name), names, 'the same layers, by name');
    const theirs = layersOutput(back, x, training);
    assert.ok((await maxDiff(ours, theirs)) < 1e-5, 'toLayersModel computes the same function');

    const { json, weights } = await toArtifacts(model, params, { note: 'test' });
    assert.equal(json.userDefinedMetadata.reptile.spec.kind, 'layers');
    const loaded = modelFromArtifacts(JSON.parse(JSON.stringify(json)), weights);
    assert.deepEqual(Object.keys(loaded.params), Object.keys(params));
    const reloaded = loaded.model.apply(loaded.params, x);
    assert.equal(await maxDiff(ours, reloaded), 0, 'model.json gives the same parameters and function');

    const rebuilt = buildModel(model.spec);
    const fromSpec = rebuilt.apply(params, x);
    assert.equal(await maxDiff(ours, fromSpec), 0, 'buildModel(spec) computes the same function');
    tf.dispose([x, ours, theirs, reloaded, fromSpec]);
    back.dispose();
    disposeParams(params);
    disposeParams(loaded.params);
  });
}

test('reinit draws from the seed as the layers\' initializers would: same seed same weights, Glorot-uniform exactly the library\'s scheme', async () => {
  const net = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 16, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' }),
      tf.layers.dense({ units: 400, kernelInitializer: 'heNormal', biasInitializer: tf.initializers.constant({ value: 0.5 }) }),
    ],
  });
  const model = fromLayersModel(net, { reinit: true });
  net.dispose();
  const [a, b, c] = [model.init(Rng.fromSeed(7)), model.init(Rng.fromSeed(7)), model.init(Rng.fromSeed(8))];
  const [ha, hb, hc] = await Promise.all([a, b, c].map(paramsToHost));
  assert.deepEqual(ha, hb);
  assert.notDeepEqual(ha.values[0], hc.values[0]);
  assert.deepEqual(ha.values[0], initKernel(Rng.fromSeed(7), 'tensorflow', 64, 4, 16), 'Glorot uniform is nn/init.ts\'s tensorflow scheme');
  assert.ok(ha.values[1].every((v) => v === 0));
  assert.ok(ha.values[3].every((v) => v === 0.5));
  // He normal, truncated at 2 standard deviations: stddev sqrt(2 / 16), so |w| <= 2 * 0.354 and a sample std near 0.88 * 0.354.
  const he = ha.values[2];
  const std = Math.sqrt(he.reduce((s, v) => s + v * v, 0) / he.length);
  assert.ok(he.every((v) => Math.abs(v) <= 2 * Math.sqrt(2 / 16) + 1e-6));
  assert.ok(Math.abs(std - 0.88 * Math.sqrt(2 / 16)) < 0.02, `He normal's spread: ${std}`);
  [a, b, c].forEach(disposeParams);
});

test('AveragePooling2D with "same" padding: the gradient matches finite differences (tfjs\'s own AvgPool gradient does not there)', async () => {
  const model = fromLayersModel(tf.sequential({ layers: [tf.layers.averagePooling2d({ inputShape: [5, 5, 1], poolSize: 3, strides: 1, padding: 'same' }), tf.layers.flatten()] }));
  const x = tf.randomUniform([1, 5, 5, 1], -1, 1, 'float32', 4);
  const w = tf.randomUniform([1, 25], -1, 1, 'float32', 5);
  const f = (input: tf.Tensor) => tf.sum(tf.mul(model.apply({}, input), w));
  const grad = await tf.grad(f)(x).data();
  const h = 1e-2;
  for (const i of [0, 6, 24]) {
    const e = tf.tidy(() => tf.mul(tf.oneHot([i], 25).reshape([1, 5, 5, 1]), h));
    const fd = tf.tidy(() => (f(tf.add(x, e)).dataSync()[0] - f(tf.sub(x, e)).dataSync()[0]) / (2 * h));
    assert.ok(Math.abs(fd - grad[i]) < 1e-3, `element ${i}: finite differences ${fd}, gradient ${grad[i]}`);
    e.dispose();
  }
  tf.dispose([x, w]);
});

test('unsupported layers, options and models: one line naming the layer (class and name) and the supported list', () => {
  const supported = /supported layers: InputLayer, Dense, Conv2D, BatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Dropout, Activation, Add, Concatenate$/;
  const cases: [tf.LayersModel, RegExp][] = [
    [tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 }), tf.layers.layerNormalization({ name: 'norm' })] }), /^fromLayersModel: layer 'norm' \(LayerNormalization\) is not supported; /],
    [tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [2, 5, 5], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst', name: 'cf' })] }), /^fromLayersModel: layer 'cf' \(Conv2D\) has dataFormat 'channelsFirst'; only 'channelsLast' is supported; /],
    [tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'selu', name: 'd' })] }), /^fromLayersModel: layer 'd' \(Dense\) has activation 'selu'; supported activations: linear, relu, relu6, tanh, sigmoid, softmax, elu, softplus; /],
    [tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, trainable: false, name: 'frozen' })] }), /^fromLayersModel: layer 'frozen' \(Dense\) is frozen/],
  ];
  for (const [m, message] of cases) {
    assert.throws(() => fromLayersModel(m), (e: Error) => message.test(e.message) && supported.test(e.message) && !e.message.includes('\n'), `message for ${m.layers.at(-1)!.name}`);
    m.dispose();
  }
  const [a, b] = [tf.input({ shape: [2] }), tf.input({ shape: [2] })];
  const twoInputs = tf.model({ inputs: [a, b], outputs: tf.layers.add().apply([a, b]) as tf.SymbolicTensor });
  assert.throws(() => fromLayersModel(twoInputs), /^Error: fromLayersModel: model '.*' has 2 inputs and 1 outputs; only models with one input and one output are supported$/);
  const shared = tf.layers.dense({ units: 2, name: 'shared' });
  const i = tf.input({ shape: [2] });
  const twice = tf.model({ inputs: i, outputs: shared.apply(shared.apply(i)) as tf.SymbolicTensor });
  assert.throws(() => fromLayersModel(twice), /layer 'shared' \(Dense\) is called 2 times \(a shared layer\)/);
  const images = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 1 })] });
  assert.throws(() => fromLayersModel(images), /outputs \[4,4,2\] per example; the library's models output a vector/);
});

/** y = w x + b written by hand: no spec, no cast. */
const handWritten: Model = {
  inputShape: [1],
  outputSize: 1,
  batchStatistics: false,
  init: (rng) => ({ w: tf.tensor2d([[rng.uniform(-1, 1)]]), b: tf.zeros([1]) }),
  apply: (params, x) => tf.tidy(() => tf.add(tf.matMul(x.reshape([-1, 1]), params.w as tf.Tensor2D), params.b) as tf.Tensor2D),
};

test('a hand-written model without a spec trains and evaluates; export and worker threads say why they cannot take it', async () => {
  const tasks = new SineDistribution();
  const loss = meanSquaredError();
  const setup = { model: handWritten, loss, layout: tasks };
  const reptile = new Reptile(setup, handWritten.init(Rng.fromSeed(0)), { innerIters: 2, innerBatch: 5, metaBatch: 2, innerOptimizer: sgd({ learningRate: 0.01 }) });
  const before = (await paramsToHost(reptile.params)).values[0][0];
  const l = await reptile.metaStep([tasks.examples(tasks.sampleTask(Rng.fromSeed(1)), [0, 1, 2, 3, 4]), tasks.examples(tasks.sampleTask(Rng.fromSeed(2)), [0, 1, 2, 3, 4])], 1, Rng.fromSeed(3));
  assert.ok(Number.isFinite(l));
  assert.notEqual((await paramsToHost(reptile.params)).values[0][0], before, 'the meta-step moved the parameters');
  const result = await evaluateRegression(handWritten, loss, tasks, reptile.params, (r) => tasks.sampleEvalTask(r), { tasks: 2, evalIters: 2, evalBatch: 5, optimizer: sgd({ learningRate: 0.01 }) }, Rng.fromSeed(4));
  assert.ok(Number.isFinite(result.mseAfter));
  assert.throws(() => toLayersModel(handWritten, reptile.params), /^Error: toLayersModel: the model has no spec \(a hand-written functional model\), so it cannot be rebuilt as a tfjs-layers model/);
  await assert.rejects(() => toArtifacts(handWritten, reptile.params), /toArtifacts: the model has no spec/);
  await assert.rejects(() => innerLoopOnThreads(setup, sgd({ learningRate: 0.01 }), { workers: 2, backend: 'wasm', kernels: 'none' }), /^Error: --workers 2: the threads rebuild the model from its spec, and this model has none/);
  reptile.dispose();
});

test('no tensor leaks over many apply and adaptation calls on a converted CNN, nor in conversion, rebuilding and export', async () => {
  const layersModel = sequentialCnn();
  const model = fromLayersModel(layersModel);
  const layout = { kind: 'classification' as const, inputShape: model.inputShape, targetShape: [] };
  const loop = new TfjsLoop({ model, loss: (await import('../src/nn/losses.js')).crossEntropy(), layout }, sgd({ learningRate: 0.1 }));
  const theta = ParamStore.ofDevice(model.init(Rng.fromSeed(0)));
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const job = { count: 4, x: Float32Array.from({ length: 4 * size }, (_, i) => Math.sin(i)), y: Int32Array.of(0, 1, 2, 0), batches: [[0, 1], [2, 3], [0, 3]] };
  const round = async () => {
    const r = await loop.adaptTasks(theta, undefined, [job, job], { mode: 'fresh', keep: 'mean' });
    r.mean!.dispose();
    const x = tf.zeros([3, size]);
    const y = model.apply(theta.device, x);
    tf.dispose([x, y]);
    const rebuilt = toLayersModel(model, theta.device);
    rebuilt.dispose();
    const again = buildModel(model.spec).init(Rng.fromSeed(1));
    disposeParams(again);
  };
  await round();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) await round();
  assert.equal(tf.memory().numTensors, before);
  theta.dispose();
  layersModel.dispose();
});
