/**
 * The fused CNN inner loop (native/fused-cnn.c in the native addon, via src/kernels/fused-cnn.ts)
 * against the TensorFlow.js inner loop on the cpu backend: the same parameters, optimizer state,
 * summed loss and adapted model outputs after several steps, for Adam, SGD and momentum, mean and
 * summed cross-entropy, with shapes that take every path of the kernel (odd and non-square
 * images, several input channels, 16 and 64 filters, batch 1, 'same' padding on either side), and
 * architectures across the block family: both variants of src/nn/conv.ts (stride 2; stride 1 with
 * max-pool, odd sizes whose last window is short), and converted tfjs-layers CNNs of 2 and 3
 * blocks mixing strides 1 and 2, pooling and not, pool before or after the ReLU.
 *
 * The conv biases are compared through the outputs only: batch norm cancels them, so their
 * gradient is rounding noise that Adam turns into +-lr moves, different in every implementation.
 *
 * Both builds of the kernel are tested: the native addon at every instruction-set level this CPU
 * runs (built when the package is installed; where it could not be, its cases are skipped, unless
 * REPTILE_REQUIRE_NATIVE=1 (CI) makes its absence a failure: test/support/native-levels.ts), and
 * the WebAssembly build (always). The levels also agree with each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsFromHost, paramsToHost, paramsToHostSync, type HostParams, type ParamSet } from '../src/core/params.js';
import { hostMean } from '../src/core/host-params.js';
import { conv, convSpec, type ConvVariant } from '../src/nn/conv.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { kernelEquivalent, type KernelSpec } from '../src/nn/kernel-equivalent.js';
import type { Model } from '../src/nn/model.js';
import { mlp } from '../src/nn/mlp.js';
import { crossEntropy, lossSpec, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, disposeOptimizerState, sgd, type Optimizer } from '../src/nn/optimizers.js';
import { disposeBatch, toBatch } from '../src/algorithms/inner-loop.js';
import { adapt } from './support/tfjs-adapt.js';
import { stateToHost } from '../src/core/optimizer-state.js';
import { minibatchIndices, type ExampleLayoutSource, type Examples } from '../src/tasks/task.js';
import { FusedCnn, fusedCnnSupports } from '../src/kernels/fused-cnn.js';
import { nativeLevels, runNativeAt } from './support/native-levels.js';
import type { CpuLevel } from '../src/kernels/fused-native.js';

await useBackend('cpu');

const LEVELS = nativeLevels();
const BUILDS: { build: 'native' | 'wasm'; label: string; level?: CpuLevel; skip: string | false }[] = [
  ...LEVELS.map(({ level, label, skip }) => ({ build: 'native' as const, label, level, skip })),
  { build: 'wasm', label: 'wasm', skip: false },
];

/** The kernel of this build for the setting (only that build allowed). */
function create(build: 'native' | 'wasm', model: KernelSpec, loss: Parameters<typeof FusedCnn.create>[1], optimizer: Optimizer, targetSize: number, paramNames?: readonly string[]): FusedCnn | undefined {
  const fused = FusedCnn.create(model, loss, optimizer, targetSize, { native: build === 'native', wasm: build === 'wasm' }, paramNames);
  if (fused) assert.equal(fused.name, `fused-cnn-${build}`);
  return fused;
}

interface Case {
  name: string;
  inputShape: [number, number, number];
  filters: number;
  classes: number;
  loss: LossFn;
  optimizer: Optimizer;
  batch: number;
  /** The library's variant (default 'omniglot'), or a converted tfjs-layers model's blocks. */
  variant?: ConvVariant;
  blocks?: UserBlock[];
  /**
   * Max-pool windows that tie: small-integer images of 2x2 and the first kernel all ones, so that
   * each of an image's four conv outputs is the exact sum of its pixels, from different taps. The
   * first step's filter gradient then tells whether the window's gradient went to its first
   * maximum, as tfjs's MaxPoolGrad sends it.
   */
  ties?: boolean;
}

/** One block of a user's CNN: conv 3x3 'same' of this stride, batch norm, ReLU, and a 2x2 max-pool before or after the ReLU, or none. */
interface UserBlock {
  stride: 1 | 2;
  pool?: 'before-relu' | 'after-relu';
}

/** A user's CNN of the family as a tfjs-layers model (layers named as conv.ts names its parameters). */
function userCnn(c: Case, blocks: UserBlock[]): tf.Sequential {
  const net = tf.sequential();
  const pool = () => tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' });
  blocks.forEach((b, l) => {
    net.add(tf.layers.conv2d({ name: `conv${l}`, filters: c.filters, kernelSize: 3, strides: b.stride, padding: 'same', ...(l === 0 ? { inputShape: c.inputShape } : {}) }));
    net.add(tf.layers.batchNormalization({ name: `bn${l}`, epsilon: 1e-3 }));
    if (b.pool === 'before-relu') net.add(pool());
    net.add(tf.layers.activation({ activation: 'relu' }));
    if (b.pool === 'after-relu') net.add(pool());
  });
  net.add(tf.layers.flatten());
  net.add(tf.layers.dense({ name: 'dense', units: c.classes }));
  return net;
}

/** The case's model, and what the kernel is given for it (the factory's view: nn/kernel-equivalent.ts for converted models). */
function subjectOf(c: Case): { model: Model; spec: KernelSpec; paramNames?: readonly string[] } {
  if (!c.blocks) {
    const model = conv({ variant: c.variant ?? 'omniglot', classes: c.classes, inputShape: c.inputShape, filters: c.filters });
    return { model, spec: model.spec };
  }
  const layers = userCnn(c, c.blocks);
  const model = fromLayersModel(layers, { reinit: true });
  layers.dispose();
  const view = kernelEquivalent(model);
  assert.ok(view, `${c.name}: the converted model is of the kernel's family`);
  return { model, ...view };
}

const CASES: Case[] = [
  { name: 'Omniglot shapes (28x28x1, 64 filters, 5-way), Adam beta1 0', inputShape: [28, 28, 1], filters: 64, classes: 5, loss: crossEntropy(), optimizer: adam({ learningRate: 0.001, beta1: 0, fused: false }), batch: 10 },
  { name: 'odd non-square 3-channel images, 16 filters, summed loss, Adam beta1 0.9', inputShape: [13, 9, 3], filters: 16, classes: 3, loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.003, beta1: 0.9, fused: false }), batch: 7 },
  { name: '32 filters (not a whole register block), SGD', inputShape: [10, 11, 2], filters: 32, classes: 4, loss: crossEntropy(), optimizer: sgd({ learningRate: 0.05, fused: false }), batch: 6 },
  { name: 'momentum SGD, 48 filters, batch 1', inputShape: [8, 8, 1], filters: 48, classes: 2, loss: crossEntropy(), optimizer: sgd({ learningRate: 0.01, momentum: 0.9, fused: false }), batch: 1 },
  { name: 'Mini-ImageNet CNN (max-pool), 20x20x3, 32 filters, 5-way, Adam beta1 0', variant: 'miniimagenet', inputShape: [20, 20, 3], filters: 32, classes: 5, loss: crossEntropy(), optimizer: adam({ learningRate: 0.001, beta1: 0, fused: false }), batch: 5 },
  { name: 'Mini-ImageNet CNN, odd non-square 13x9x3 (short last windows), 16 filters, summed loss, momentum SGD', variant: 'miniimagenet', inputShape: [13, 9, 3], filters: 16, classes: 3, loss: crossEntropy('sum'), optimizer: sgd({ learningRate: 0.01, momentum: 0.9, fused: false }), batch: 4 },
  { name: 'converted CNN, 1 block with pool, 2x2x1 images whose pool windows tie, 16 filters, SGD', blocks: [{ stride: 1, pool: 'before-relu' }], ties: true, inputShape: [2, 2, 1], filters: 16, classes: 3, loss: crossEntropy(), optimizer: sgd({ learningRate: 0.1, fused: false }), batch: 6 },
  { name: 'converted CNN, 3 blocks: stride 1, stride 2, stride 1 + pool after ReLU; 11x8x3, 16 filters, SGD', blocks: [{ stride: 1 }, { stride: 2 }, { stride: 1, pool: 'after-relu' }], inputShape: [11, 8, 3], filters: 16, classes: 4, loss: crossEntropy(), optimizer: sgd({ learningRate: 0.05, fused: false }), batch: 5 },
  { name: 'converted CNN, 2 blocks: stride 2 + pool, stride 1 without; 15x15x1, 32 filters, Adam', blocks: [{ stride: 2, pool: 'before-relu' }, { stride: 1 }], inputShape: [15, 15, 1], filters: 32, classes: 3, loss: crossEntropy(), optimizer: adam({ learningRate: 0.003, fused: false }), batch: 6 },
];

const layout = (c: Case): ExampleLayoutSource => ({ kind: 'classification', inputShape: c.inputShape, targetShape: [] });

function taskFor(c: Case, rng: Rng): Examples {
  const count = 12;
  const size = c.inputShape.reduce((a, b) => a * b, 1);
  return { count, x: Float32Array.from({ length: count * size }, () => (c.ties ? Math.floor(rng.uniform(0, 4)) : rng.uniform(0, 1))), y: Int32Array.from({ length: count }, (_, i) => i % c.classes) };
}

/** The parameters with the first kernel all ones (their old kernel disposed). */
function withOnesKernel(params: ParamSet, c: Case): ParamSet {
  params['conv0/kernel'].dispose();
  return { ...params, 'conv0/kernel': tf.ones([3, 3, c.inputShape[2], c.filters]) };
}

function assertClose(actual: HostParams, expected: HostParams, what: string, tolerance: number): void {
  assert.deepEqual(actual.names, expected.names);
  expected.values.forEach((v, k) => {
    if (/^conv\d+\/bias$/.test(expected.names[k])) return;
    const mine = actual.values[k];
    assert.equal(mine.length, v.length);
    v.forEach((e, i) => assert.ok(Math.abs(mine[i] - e) <= tolerance * Math.max(1, Math.abs(e)), `${what} ${expected.names[k]}[${i}]: fused ${mine[i]}, tfjs ${e}`));
  });
}

for (const { build, label, level, skip } of BUILDS) for (const c of CASES) {
  test(`fused CNN inner loop (${label}) equals the tfjs inner loop: ${c.name}`, { skip }, async () => {
    runNativeAt(level);
    const { model, spec, paramNames } = subjectOf(c);
    const rng = Rng.fromSeed(7);
    const theta = model.init(rng.fork());
    const task = taskFor(c, rng);
    const optimizer = c.optimizer;
    // A start state that is not zero: two steps on other minibatches.
    const warmBatches = minibatchIndices(task.count, c.batch, 2, rng).map((b) => toBatch(layout(c), task, b));
    const fresh = optimizer.init(theta);
    const warmed = adapt(model, c.loss, optimizer, theta, fresh, warmBatches);
    const warm = c.ties ? { ...warmed, params: withOnesKernel(warmed.params, c) } : warmed;
    warmBatches.forEach(disposeBatch);
    disposeOptimizerState(fresh);
    warm.lossSum.dispose();

    const steps = minibatchIndices(task.count, c.batch, 4, rng);
    const batches = steps.map((b) => toBatch(layout(c), task, b));
    const reference = adapt(model, c.loss, optimizer, warm.params, warm.state, batches);
    batches.forEach(disposeBatch);

    const fused = create(build, spec, lossSpec(c.loss), optimizer, 1, paramNames);
    assert.ok(fused, 'the fused CNN covers this case');
    const startTheta = await paramsToHost(warm.params);
    const startState = await stateToHost(warm.state);
    const thetaCopy = startTheta.values.map((v) => v.slice());
    const out = fused.adapt(startTheta, startState, { ...task, batches: steps });

    assertClose(out.phi, await paramsToHost(reference.params), 'phi', 1e-4);
    const refState = await stateToHost(reference.state);
    assert.equal(out.state.step, refState.step);
    for (const name of Object.keys(refState.slots)) assertClose(out.state.slots[name], refState.slots[name], `slot ${name}`, 1e-4);
    const refLoss = (await reference.lossSum.data())[0];
    assert.ok(Math.abs(out.lossSum - refLoss) <= 1e-4 * Math.max(1, Math.abs(refLoss)), `loss sum: fused ${out.lossSum}, tfjs ${refLoss}`);
    startTheta.values.forEach((v, k) => assert.deepEqual(v, thetaCopy[k], 'the inputs are not changed'));
    // The adapted models compute the same outputs (biases included).
    const mine = paramsFromHost(out.phi);
    const [a, b] = tf.tidy(() => {
      const x = tf.tensor(task.x, [task.count, ...c.inputShape]);
      return [model.apply(mine, x).dataSync(), model.apply(reference.params, x).dataSync()];
    });
    b.forEach((e, i) => assert.ok(Math.abs(a[i] - e) <= 1e-3 * Math.max(1, Math.abs(e)), `logit ${i}: fused ${a[i]}, tfjs ${e}`));

    for (const t of [theta, warm.params, reference.params, mine]) disposeParams(t);
    disposeOptimizerState(warm.state);
    disposeOptimizerState(reference.state);
    reference.lossSum.dispose();
  });
}

for (const { build, label, level, skip } of BUILDS) test(`the fused CNN (${label}) is deterministic, and adaptSequence equals task-by-task adaptation and averaging, bitwise`, { skip }, () => {
  runNativeAt(level);
  const c = CASES[1];
  const model = conv({ variant: 'omniglot', classes: c.classes, inputShape: c.inputShape, filters: c.filters });
  const rng = Rng.fromSeed(9);
  const theta = paramsToHostSync(model.init(rng.fork()));
  const fused = create(build, model.spec, lossSpec(c.loss), c.optimizer, 1)!;
  const jobs = [0, 1, 2].map(() => ({ ...taskFor(c, rng), batches: minibatchIndices(12, c.batch, 3, rng) }));
  const once = fused.adapt(theta, undefined, jobs[0]);
  assert.deepEqual(fused.adapt(theta, undefined, jobs[0]).phi.values, once.phi.values, 'the same inputs, the same bits');
  const ends = jobs.map((job) => fused.adapt(theta, once.state, job));
  const common = fused.adaptSequence(theta, once.state, jobs, 'common');
  assert.deepEqual(common.mean.values, hostMean(ends.map((e) => e.phi)).values, 'common: mean of the adapted parameters');
  for (const name of Object.keys(once.state.slots)) assert.deepEqual(common.state!.slots[name].values, hostMean(ends.map((e) => e.state.slots[name])).values, `common: mean of slot ${name}`);
  let state = once.state;
  const chained = jobs.map((job) => ((state = fused.adapt(theta, state, job).state), state));
  const chain = fused.adaptSequence(theta, once.state, jobs, 'chain');
  assert.deepEqual(chain.state!.slots.m.values, chained[2].slots.m.values, 'chain: the last job\'s state');
});

for (const { build, label, level, skip } of BUILDS) test(`the fused CNN (${label}) predicts what the model computes on a batch (batch norm on its own statistics)`, { skip }, () => {
  runNativeAt(level);
  for (const c of [CASES[0], CASES[1], CASES[5], CASES[6]]) {
    const { model, spec, paramNames } = subjectOf(c);
    const rng = Rng.fromSeed(11);
    const theta = model.init(rng.fork());
    const task = taskFor(c, rng);
    const fused = create(build, spec, lossSpec(c.loss), c.optimizer, 1, paramNames)!;
    for (const count of [1, 5, 12]) {
      const x = task.x.subarray(0, count * c.inputShape.reduce((a, b) => a * b, 1));
      const mine = fused.predict(paramsToHostSync(theta), x, count);
      const expected = tf.tidy(() => model.apply(theta, tf.tensor(x, [count, ...c.inputShape]), { training: true }).dataSync());
      assert.equal(mine.length, expected.length);
      expected.forEach((e, i) => assert.ok(Math.abs(mine[i] - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${c.name}, ${count} examples, logit ${i}: fused ${mine[i]}, tfjs ${e}`));
    }
    assert.throws(() => fused.predict(paramsToHostSync(theta), task.x.subarray(1), 12), /need/);
    disposeParams(theta);
  }
});

test('the fused CNN covers only what it computes, and refuses out-of-range labels and indices', () => {
  const adamOpt = adam({ learningRate: 0.001 });
  const ce = lossSpec(crossEntropy());
  assert.ok(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5 }), ce, adamOpt, 1));
  assert.ok(fusedCnnSupports(convSpec({ variant: 'miniimagenet', classes: 5 }), ce, adamOpt, 1), 'the max-pooling variant');
  assert.equal(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5, filters: 24 }), ce, adamOpt, 1), false, 'filters not a multiple of 16');
  assert.equal(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5, filters: 272 }), ce, adamOpt, 1), false, 'more filters than batch norm keeps on the stack');
  assert.ok(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5, filters: 256 }), ce, adamOpt, 1));
  assert.equal(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5 }), lossSpec(meanSquaredError()), adamOpt, 5), false, 'squared error');
  assert.equal(fusedCnnSupports(convSpec({ variant: 'omniglot', classes: 5 }), undefined, adamOpt, 1), false, "a user's own loss");
  assert.equal(fusedCnnSupports(mlp([4, 3]).spec, ce, adamOpt, 1), false, 'an MLP');
  const c = CASES[3];
  const model = conv({ variant: 'omniglot', classes: c.classes, inputShape: c.inputShape, filters: c.filters });
  const fused = FusedCnn.create(model.spec, ce, adamOpt, 1)!;
  const theta = paramsToHostSync(model.init(Rng.fromSeed(1)));
  const job = { count: 2, x: new Float32Array(128), y: Int32Array.of(0, 1), batches: [[0, 1]] };
  assert.ok(fused.adapt(theta, undefined, job));
  assert.throws(() => fused.adapt(theta, undefined, { ...job, y: Int32Array.of(0, 2) }), /labels must be integers in \[0, 2\)/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, batches: [[0, 5]] }), /example index 5/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, x: new Float32Array(127) }), /need 128 inputs/);
});
