/**
 * Where the fused MLP inner loop plugs in (the factory, src/algorithms/select-inner-loop.ts): Reptile's serial
 * loop with persistent inner Adam, and test-time adaptation, give the same numbers with the fused
 * loop as with the TensorFlow.js loop (to float32 rounding over several meta-iterations), and
 * leak no tensors; a model that is not the library's MLP never takes the fused path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { crossEntropy, meanSquaredError } from '../src/nn/losses.js';
import { adam, sgd } from '../src/nn/optimizers.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { JointTraining } from '../src/algorithms/joint.js';
import { Fomaml } from '../src/algorithms/fomaml.js';
import { selectInnerLoop, type KernelChoice } from '../src/algorithms/select-inner-loop.js';
import type { LossFn } from '../src/nn/losses.js';
import type { Optimizer } from '../src/nn/optimizers.js';
import { adaptToSupport } from '../src/eval/adapt.js';
import { adaptAndTrace } from '../src/eval/regression.js';
import type { Model } from '../src/nn/model.js';
import type { Examples, ExampleLayoutSource } from '../src/tasks/task.js';

await useBackend('wasm');

const layout: ExampleLayoutSource = { kind: 'classification', inputShape: [30], targetShape: [] };
const loss = crossEntropy();
const model = mlp([30, 17, 13, 5]);

function task(rng: Rng): Examples {
  const count = 15;
  return { count, x: Float32Array.from({ length: count * 30 }, () => rng.normal()), y: Int32Array.from({ length: count }, (_, i) => i % 5) };
}

/** The kernels option of a run with the fused loop (all) or without (none). */
const kernelsOf = (fused: boolean): KernelChoice => (fused ? 'all' : 'none');

/** The name of the loop the factory chooses. */
const chosen = (m: Model, l: LossFn, optimizer: Optimizer, where: ExampleLayoutSource, kernels: KernelChoice = 'all') => selectInnerLoop({ model: m, loss: l, layout: where }, optimizer, { kernels }).name;

async function flat(params: ParamSet): Promise<number[]> {
  return (await paramsToHost(params)).values.flatMap((v) => Array.from(v));
}

async function reptileRun(fused: boolean): Promise<{ theta: number[]; losses: number[]; tensors: number[] }> {
  const rng = Rng.fromSeed(3);
  const reptile = new Reptile({ model, loss, layout }, model.init(rng.fork()), {
    innerIters: 4, innerBatch: 5, metaBatch: 3, innerOptimizer: adam({ learningRate: 0.01, beta1: 0 }), kernels: kernelsOf(fused),
  });
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let i = 0; i < 6; i++) {
    const value = await reptile.metaStep([task(rng), task(rng), task(rng)], 0.5, rng);
    losses.push(value);
    tensors.push(tf.memory().numTensors);
  }
  const theta = await flat(reptile.params);
  reptile.dispose();
  return { theta, losses, tensors };
}

test('Reptile with the fused inner loop follows the tfjs inner loop, and leaks nothing', async () => {
  assert.equal(chosen(model, loss, adam({ learningRate: 0.01 }), layout), 'fused-mlp', 'the fused loop applies to this setting');
  const fused = await reptileRun(true);
  const plain = await reptileRun(false);
  fused.theta.forEach((v, i) => assert.ok(Math.abs(v - plain.theta[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `theta[${i}]: fused ${v}, tfjs ${plain.theta[i]}`));
  fused.losses.forEach((v, i) => assert.ok(Math.abs(v - plain.losses[i]) <= 1e-4, `loss ${i}: fused ${v}, tfjs ${plain.losses[i]}`));
  assert.ok(new Set(fused.tensors.slice(1)).size === 1, `tensor count grows: ${fused.tensors.join(', ')}`);
});

test('test-time adaptation with the fused loop equals the tfjs loop, and never changes the meta-parameters', async () => {
  const rng = Rng.fromSeed(8);
  const theta = model.init(rng.fork());
  const before = await flat(theta);
  const support = task(rng);
  const options = { evalIters: 7, evalBatch: 4, optimizer: adam({ learningRate: 0.01, beta1: 0 }) };
  const count = tf.memory().numTensors;
  const fused = await adaptToSupport(model, loss, layout, theta, support, options, Rng.fromSeed(1));
  const plain = await adaptToSupport(model, loss, layout, theta, support, { ...options, kernels: 'none' }, Rng.fromSeed(1));
  const [a, b] = [await flat(fused.device), await flat(plain.device)];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5 * Math.max(1, Math.abs(v)), `param ${i}: fused ${v}, tfjs ${b[i]}`));
  assert.ok(a.some((v, i) => v !== before[i]), 'adaptation moved the parameters');
  assert.deepEqual(await flat(theta), before);
  fused.dispose();
  plain.dispose();
  assert.equal(tf.memory().numTensors, count);
  disposeParams(theta);
});

test('a model that only claims an MLP spec never takes the fused path', () => {
  const impostor: Model = { ...mlp([30, 5]) };
  assert.notEqual(chosen(impostor, loss, adam({ learningRate: 0.01 }), layout), 'fused-mlp');
  assert.equal(chosen(mlp([30, 5]), loss, adam({ learningRate: 0.01 }), layout), 'fused-mlp');
  assert.equal(chosen(model, loss, adam({ learningRate: 0.01 }), layout, 'none'), 'tfjs-stacked', 'kernels: none');
  assert.equal(chosen(model, loss, adam({ learningRate: 0.01 }), layout, ['fused-cnn-native']), 'tfjs-stacked', 'the MLP kernel not allowed');
});

test('a traced adaptation (losses after 0, 1 and 9 steps) takes the fused path in segments and equals the tfjs one', async () => {
  const sine = mlp([1, 16, 16, 1], { activation: 'tanh', init: 'pytorch' });
  const regression: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
  const rng = Rng.fromSeed(2);
  const theta = sine.init(rng.fork());
  const points = (n: number): Examples => {
    const x = Float32Array.from({ length: n }, () => rng.uniform(-5, 5));
    return { count: n, x, y: x.map((v) => 2 * Math.sin(v + 1)) };
  };
  const task = { support: points(10), query: points(50) };
  const options = { evalIters: 9, evalBatch: 5, optimizer: sgd({ learningRate: 0.02 }) };
  assert.equal(chosen(sine, meanSquaredError(), options.optimizer, regression), 'fused-mlp');
  const count = tf.memory().numTensors;
  const fused = await adaptAndTrace(sine, meanSquaredError(), regression, theta, task, options, [0, 1, 9], Rng.fromSeed(3), true);
  const plain = await adaptAndTrace(sine, meanSquaredError(), regression, theta, task, { ...options, kernels: 'none' }, [0, 1, 9], Rng.fromSeed(3), true);
  assert.equal(fused.losses.length, 3);
  fused.losses.forEach((v, i) => assert.ok(Math.abs(v - plain.losses[i]) <= 1e-5 * Math.max(1, Math.abs(v)), `loss after step ${[0, 1, 9][i]}: fused ${v}, tfjs ${plain.losses[i]}`));
  assert.ok(fused.losses[2] < fused.losses[0], 'adaptation lowered the loss');
  fused.predictions!.forEach((p, i) => p.forEach((v, j) => assert.ok(Math.abs(v - plain.predictions![i][j]) <= 1e-4, `prediction ${i}/${j}`)));
  assert.equal(tf.memory().numTensors, count, 'no tensor leaks');
  disposeParams(theta);
});

test('joint training with the fused loop follows the tfjs loop (one SGD step per task), and leaks nothing', async () => {
  const sine = mlp([1, 12, 1], { activation: 'tanh', init: 'pytorch' });
  const regression: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
  const run = async (fused: boolean) => {
    const rng = Rng.fromSeed(6);
    const joint = new JointTraining({ model: sine, loss: meanSquaredError(), layout: regression }, sine.init(rng.fork()), { stepsPerIteration: 3, batchSize: 4, optimizer: sgd({ learningRate: 0.05 }), kernels: kernelsOf(fused) });
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const tasks = Array.from({ length: 3 }, () => {
        const x = Float32Array.from({ length: 8 }, () => rng.uniform(-5, 5));
        return { count: 8, x, y: x.map((v) => Math.sin(v)) };
      });
      await joint.metaStep(tasks, 0, rng);
      counts.push(tf.memory().numTensors);
    }
    const theta = await flat(joint.params);
    joint.dispose();
    return { theta, counts };
  };
  const [a, b] = [await run(true), await run(false)];
  a.theta.forEach((v, i) => assert.ok(Math.abs(v - b.theta[i]) <= 1e-5 * Math.max(1, Math.abs(v)), `theta[${i}]: fused ${v}, tfjs ${b.theta[i]}`));
  assert.equal(new Set(a.counts).size, 1, `tensor count grows: ${a.counts.join(', ')}`);
});

test('FOMAML with the fused loop follows the tfjs loop (with and without a tail), and leaks nothing', async () => {
  for (const tailShots of [0, 1]) {
    const run = async (fused: boolean) => {
      const rng = Rng.fromSeed(9);
      const fomaml = new Fomaml({ model, loss, layout }, model.init(rng.fork()), {
        innerIters: 4, innerBatch: 5, metaBatch: 2, innerOptimizer: adam({ learningRate: 0.01, beta1: 0 }), tailShots, kernels: kernelsOf(fused),
      });
      const counts: number[] = [];
      // Interpolation, not an outer Adam: Adam's normalisation would magnify float32 rounding
      // in u (a difference of close parameter sets) into differences of its step's sign.
      for (let i = 0; i < 4; i++) {
        await fomaml.metaStep([task(rng), task(rng)], 1, rng);
        counts.push(tf.memory().numTensors);
      }
      const theta = await flat(fomaml.params);
      fomaml.dispose();
      return { theta, counts };
    };
    const [a, b] = [await run(true), await run(false)];
    a.theta.forEach((v, i) => assert.ok(Math.abs(v - b.theta[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `tail ${tailShots}, theta[${i}]: fused ${v}, tfjs ${b.theta[i]}`));
    assert.equal(new Set(a.counts).size, 1, `tensor count grows: ${a.counts.join(', ')}`);
  }
});
