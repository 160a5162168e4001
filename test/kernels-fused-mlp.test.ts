/**
 * The fused MLP inner loop (native/fused-mlp.c via src/kernels/fused-mlp.ts) against the
 * TensorFlow.js inner loop (src/algorithms/inner-loop.ts adapt, composed optimizer updates) on the
 * cpu backend: the same parameters, optimizer state and summed loss after several steps, for every
 * activation, loss, reduction and optimizer it covers, with odd layer widths (not multiples of the
 * SIMD width), batch 1, and a start state that is not zero. Also: what it refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, paramsToHostSync, type HostParams } from '../src/core/params.js';
import { hostMean } from '../src/core/host-params.js';
import { mlp } from '../src/nn/mlp.js';
import { convSpec } from '../src/nn/conv.js';
import { binaryCrossEntropy, crossEntropy, lossSpec, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, disposeOptimizerState, sgd, type Optimizer } from '../src/nn/optimizers.js';
import { disposeBatch, toBatch } from '../src/algorithms/inner-loop.js';
import { adapt } from './support/tfjs-adapt.js';
import { stateToHost } from '../src/core/optimizer-state.js';
import { minibatchIndices, type ExampleLayoutSource, type Examples } from '../src/tasks/task.js';
import { FusedMlp } from '../src/kernels/fused-mlp.js';

await useBackend('cpu');

interface Case {
  name: string;
  sizes: number[];
  activation: 'relu' | 'tanh';
  loss: LossFn;
  optimizer: Optimizer;
  batch: number;
}

const CASES: Case[] = [
  { name: 'Omniglot-like MLP, cross-entropy mean, Adam beta1 0', sizes: [37, 21, 18, 5], activation: 'relu', loss: crossEntropy(), optimizer: adam({ learningRate: 0.01, beta1: 0, fused: false }), batch: 5 },
  { name: 'cross-entropy sum, Adam beta1 0.9', sizes: [9, 33, 3], activation: 'relu', loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.003, beta1: 0.9, fused: false }), batch: 7 },
  { name: 'sine-like tanh MLP, mse mean, SGD', sizes: [1, 19, 17, 1], activation: 'tanh', loss: meanSquaredError(), optimizer: sgd({ learningRate: 0.02, fused: false }), batch: 10 },
  { name: 'mse sum with 3 outputs, momentum SGD, batch 1', sizes: [6, 16, 3], activation: 'tanh', loss: meanSquaredError('sum'), optimizer: sgd({ learningRate: 0.01, momentum: 0.9, fused: false }), batch: 1 },
  { name: 'one layer, relu, 64 wide', sizes: [64, 64], activation: 'relu', loss: crossEntropy(), optimizer: sgd({ learningRate: 0.1, fused: false }), batch: 4 },
];

function layoutOf(c: Case): ExampleLayoutSource {
  const classification = lossSpec(c.loss)!.name === 'cross-entropy';
  return { kind: classification ? 'classification' : 'regression', inputShape: [c.sizes[0]], targetShape: classification ? [] : [c.sizes[c.sizes.length - 1]] };
}

function taskFor(c: Case, rng: Rng): Examples {
  const count = 11;
  const inSize = c.sizes[0];
  const outSize = c.sizes[c.sizes.length - 1];
  const classification = lossSpec(c.loss)!.name === 'cross-entropy';
  return {
    count,
    x: Float32Array.from({ length: count * inSize }, () => rng.normal()),
    y: classification ? Int32Array.from({ length: count }, (_, i) => i % outSize) : Float32Array.from({ length: count * outSize }, () => rng.normal()),
  };
}

function assertClose(actual: HostParams, expected: HostParams, what: string): void {
  assert.deepEqual(actual.names, expected.names);
  expected.values.forEach((v, k) => {
    const mine = actual.values[k];
    assert.equal(mine.length, v.length);
    v.forEach((e, i) => assert.ok(Math.abs(mine[i] - e) <= 2e-5 * Math.max(1, Math.abs(e)), `${what} ${expected.names[k]}[${i}]: fused ${mine[i]}, tfjs ${e}`));
  });
}

for (const c of CASES) {
  test(`fused MLP inner loop equals the tfjs inner loop: ${c.name}`, async () => {
    const model = mlp(c.sizes, { activation: c.activation });
    const layout = layoutOf(c);
    const rng = Rng.fromSeed(4);
    const theta = model.init(rng.fork());
    const task = taskFor(c, rng);
    const optimizer = c.optimizer; // composed updates (fused: false): the plain tfjs reference
    // A start state that is not zero: three steps on other minibatches.
    const warmBatches = minibatchIndices(task.count, c.batch, 3, rng).map((b) => toBatch(layout, task, b));
    const fresh = optimizer.init(theta);
    const warm = adapt(model, c.loss, optimizer, theta, fresh, warmBatches);
    warmBatches.forEach(disposeBatch);
    disposeOptimizerState(fresh);
    warm.lossSum.dispose();

    const steps = minibatchIndices(task.count, c.batch, 6, rng);
    const batches = steps.map((b) => toBatch(layout, task, b));
    const reference = adapt(model, c.loss, optimizer, warm.params, warm.state, batches);
    batches.forEach(disposeBatch);

    const fused = FusedMlp.create(model.spec, lossSpec(c.loss), optimizer, layout.kind === 'classification' ? 1 : c.sizes[c.sizes.length - 1]);
    assert.ok(fused, 'the fused loop covers this case');
    const startTheta = await paramsToHost(warm.params);
    const startState = await stateToHost(warm.state);
    const thetaCopy = startTheta.values.map((v) => v.slice());
    const out = fused.adapt(startTheta, startState, { ...task, batches: steps });

    assertClose(out.phi, await paramsToHost(reference.params), 'phi');
    const refState = await stateToHost(reference.state);
    assert.equal(out.state.step, refState.step);
    assert.deepEqual(Object.keys(out.state.slots).sort(), Object.keys(refState.slots).sort());
    for (const name of Object.keys(refState.slots)) assertClose(out.state.slots[name], refState.slots[name], `slot ${name}`);
    const refLoss = (await reference.lossSum.data())[0];
    assert.ok(Math.abs(out.lossSum - refLoss) <= 1e-5 * Math.max(1, Math.abs(refLoss)), `loss sum: fused ${out.lossSum}, tfjs ${refLoss}`);
    startTheta.values.forEach((v, k) => assert.deepEqual(v, thetaCopy[k], 'the inputs are not changed'));
    // A fresh state (undefined) is the optimizer's zero state.
    const fromFresh = fused.adapt(startTheta, undefined, { ...task, batches: steps });
    assert.equal(fromFresh.state.step, steps.length);

    for (const t of [theta, warm.params, reference.params]) disposeParams(t);
    disposeOptimizerState(warm.state);
    disposeOptimizerState(reference.state);
    reference.lossSum.dispose();
  });
}

test('the fused loop is deterministic: the same inputs give bitwise the same outputs, on a reused instance', async () => {
  const c = CASES[0];
  const model = mlp(c.sizes, { activation: c.activation });
  const rng = Rng.fromSeed(5);
  const theta = await paramsToHost(model.init(rng.fork()));
  const task = taskFor(c, rng);
  const steps = minibatchIndices(task.count, c.batch, 5, rng);
  const fused = FusedMlp.create(model.spec, lossSpec(c.loss), c.optimizer, 1)!;
  const a = fused.adapt(theta, undefined, { ...task, batches: steps });
  const other = fused.adapt(theta, undefined, { ...taskFor({ ...c }, rng), batches: steps });
  const b = fused.adapt(theta, undefined, { ...task, batches: steps });
  assert.notDeepEqual(a.phi.values, other.phi.values);
  assert.deepEqual(a.phi.values, b.phi.values);
  assert.equal(a.lossSum, b.lossSum);
});

test('the fused loop refuses what it does not cover', () => {
  const adamOpt = adam({ learningRate: 0.001 });
  assert.equal(FusedMlp.create(mlp([4, 3]).spec, lossSpec(binaryCrossEntropy()), adamOpt, 3), undefined, 'binary cross-entropy');
  assert.equal(FusedMlp.create(mlp([4, 3]).spec, undefined, adamOpt, 1), undefined, "a user's own loss function");
  assert.equal(FusedMlp.create(convSpec({ variant: 'omniglot', classes: 3 }), lossSpec(crossEntropy()), adamOpt, 1), undefined, 'a conv model');
  assert.equal(FusedMlp.create(mlp([4, 3]).spec, lossSpec(meanSquaredError()), adamOpt, 2), undefined, 'targets of another size than the outputs');
  assert.equal(FusedMlp.create(mlp([4, 3]).spec, lossSpec(crossEntropy()), { name: 'rmsprop', config: {} }, 1), undefined, 'another optimizer');
  assert.ok(FusedMlp.create(mlp([4, 3]).spec, lossSpec(crossEntropy()), adamOpt, 1));
});

test('the fused loop refuses labels, indices and sizes that would take it outside the task', () => {
  const model = mlp([4, 3]);
  const fused = FusedMlp.create(model.spec, lossSpec(crossEntropy()), adam({ learningRate: 0.01 }), 1)!;
  const theta = { names: ['dense0/kernel', 'dense0/bias'], shapes: [[4, 3], [3]], values: [new Float32Array(12), new Float32Array(3)] };
  const job = { count: 2, x: new Float32Array(8), y: Int32Array.of(0, 2), batches: [[0, 1]] };
  assert.ok(fused.adapt(theta, undefined, job));
  assert.throws(() => fused.adapt(theta, undefined, { ...job, y: Int32Array.of(0, 3) }), /labels must be integers in \[0, 3\)/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, y: Int32Array.of(0, -1) }), /labels/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, batches: [[0, 2]] }), /example index 2/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, x: new Float32Array(7) }), /need 8 inputs/);
  assert.throws(() => fused.adapt(theta, undefined, { ...job, batches: [[0, 1], [1]] }), /same size/);
  assert.throws(() => fused.adapt({ ...theta, names: ['dense0/kernel', 'other'] }, undefined, job), /theta has no dense0\/bias/);
});

test('adaptSequence equals adapting task by task and averaging, bitwise, with the state chained, common or fresh', () => {
  const c = CASES[0];
  const model = mlp(c.sizes, { activation: c.activation });
  const rng = Rng.fromSeed(12);
  const theta = paramsToHostSync(model.init(rng.fork()));
  const fused = FusedMlp.create(model.spec, lossSpec(c.loss), c.optimizer, 1)!;
  const jobs = [0, 1, 2].map(() => ({ ...taskFor(c, rng), batches: minibatchIndices(11, c.batch, 4, rng) }));
  const start = fused.adapt(theta, undefined, jobs[0]).state;
  for (const chain of [true, false]) {
    const phis: HostParams[] = [];
    let state = chain ? start : undefined;
    for (const job of jobs) {
      const r = fused.adapt(theta, chain ? state : undefined, job);
      phis.push(r.phi);
      state = r.state;
    }
    const sequence = fused.adaptSequence(theta, chain ? start : undefined, jobs, chain ? 'chain' : 'fresh');
    assert.deepEqual(sequence.mean.values, hostMean(phis).values, `mean (${chain ? 'chained' : 'fresh'})`);
    if (chain) {
      assert.equal(sequence.state!.step, state!.step);
      for (const name of Object.keys(state!.slots)) assert.deepEqual(sequence.state!.slots[name].values, state!.slots[name].values, `slot ${name}`);
    } else assert.equal(sequence.state, undefined);
  }
  // 'common': every job from the same start; the mean of the end states comes back.
  const ends = jobs.map((job) => fused.adapt(theta, start, job));
  const common = fused.adaptSequence(theta, start, jobs, 'common');
  assert.deepEqual(common.mean.values, hostMean(ends.map((e) => e.phi)).values, 'common: mean of the adapted parameters');
  assert.equal(common.state!.step, ends[0].state.step);
  for (const name of Object.keys(start.slots)) assert.deepEqual(common.state!.slots[name].values, hostMean(ends.map((e) => e.state.slots[name])).values, `common: mean of slot ${name}`);
  const single = fused.adaptSequence(theta, undefined, [jobs[1]], 'fresh');
  assert.deepEqual(single.mean.values, fused.adapt(theta, undefined, jobs[1]).phi.values, 'one job: its own parameters');
});
