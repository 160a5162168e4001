/**
 * The stacked inner loop (src/algorithms/stacked-loop.ts) against the per-task inner loop:
 * T tasks adapted at once give each task's own result (to 1e-6; in practice bitwise), for a
 * classification MLP with Adam and a regression MLP with SGD; models with batch statistics are
 * refused; nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, disposeOptimizerState, sgd, type Optimizer } from '../src/nn/optimizers.js';
import { disposeBatch, toBatch } from '../src/algorithms/inner-loop.js';
import { adapt } from './support/tfjs-adapt.js';
import { adaptStacked, canStack } from '../src/algorithms/stacked-loop.js';
import type { AdaptJob } from '../src/core/inner-loop.js';
import { minibatchIndices, type ExampleLayoutSource, type Examples } from '../src/tasks/task.js';
import type { Model } from '../src/nn/model.js';

await useBackend('wasm');

function jobsFor(layout: ExampleLayoutSource, classes: number, copies: number, rng: Rng): AdaptJob[] {
  const inSize = layout.inputShape.reduce((a, b) => a * b, 1);
  return Array.from({ length: copies }, () => {
    const count = 12;
    const examples: Examples = {
      count,
      x: Float32Array.from({ length: count * inSize }, () => rng.normal()),
      y: layout.kind === 'classification' ? Int32Array.from({ length: count }, (_, i) => i % classes) : Float32Array.from({ length: count }, () => rng.normal()),
    };
    return { ...examples, batches: minibatchIndices(count, 5, 4, rng) };
  });
}

async function compare(model: Model, loss: LossFn, optimizer: Optimizer, layout: ExampleLayoutSource, classes: number): Promise<void> {
  const rng = Rng.fromSeed(9);
  const theta = model.init(rng.fork());
  const jobs = jobsFor(layout, classes, 3, rng);
  const before = tf.memory().numTensors;
  // A start state that is not zero: two steps on the first task.
  const fresh = optimizer.init(theta);
  const warmBatches = jobs[0].batches.slice(0, 2).map((b) => toBatch(layout, jobs[0], b));
  const warm = adapt(model, loss, optimizer, theta, fresh, warmBatches);
  warmBatches.forEach(disposeBatch);
  disposeOptimizerState(fresh);
  const beforeStacked = tf.memory().numTensors;
  const stacked = adaptStacked(model, loss, optimizer, layout, theta, warm.state, jobs);
  const live = Object.keys(stacked.params).length + Object.values(stacked.state.slots).reduce((n, s) => n + Object.keys(s).length, 0) + 1;
  assert.equal(tf.memory().numTensors, beforeStacked + live, 'adaptStacked leaked');
  const stackedPhi = await paramsToHost(stacked.params);
  const stackedLoss = (await stacked.lossSum.data())[0];
  let lossTotal = 0;
  for (const [t, job] of jobs.entries()) {
    const batches = job.batches.map((b) => toBatch(layout, job, b));
    const single = adapt(model, loss, optimizer, theta, warm.state, batches);
    batches.forEach(disposeBatch);
    const phi = await paramsToHost(single.params);
    phi.values.forEach((v, k) => {
      const size = v.length;
      const mine = stackedPhi.values[k].subarray(t * size, (t + 1) * size);
      v.forEach((e, i) => assert.ok(Math.abs(mine[i] - e) <= 1e-6 * Math.max(1, Math.abs(e)), `task ${t} ${phi.names[k]}[${i}]: stacked ${mine[i]}, alone ${e}`));
    });
    lossTotal += (await single.lossSum.data())[0];
    disposeParams(single.params);
    disposeOptimizerState(single.state);
    single.lossSum.dispose();
  }
  disposeParams(stacked.params);
  disposeOptimizerState(stacked.state);
  assert.ok(Math.abs(stackedLoss - lossTotal) <= 1e-5 * Math.max(1, Math.abs(lossTotal)), `loss sum ${stackedLoss} vs ${lossTotal}`);
  stacked.lossSum.dispose();
  disposeParams(warm.params);
  disposeOptimizerState(warm.state);
  warm.lossSum.dispose();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  disposeParams(theta);
}

test('stacked adaptation equals per-task adaptation: classification MLP, Adam, summed cross-entropy', async () => {
  await compare(mlp([20, 16, 16, 4]), crossEntropy('sum'), adam({ learningRate: 0.01, beta1: 0 }), { kind: 'classification', inputShape: [20], targetShape: [] }, 4);
});

test('stacked adaptation equals per-task adaptation: regression tanh MLP, SGD with momentum, mean squared error', async () => {
  await compare(mlp([1, 32, 32, 1], { activation: 'tanh' }), meanSquaredError(), sgd({ learningRate: 0.02, momentum: 0.5 }), { kind: 'regression', inputShape: [1], targetShape: [1] }, 0);
});

test('models with batch statistics, single jobs and ragged jobs are not stacked', () => {
  const layout: ExampleLayoutSource = { kind: 'classification', inputShape: [8, 8, 1], targetShape: [] };
  const jobs = jobsFor(layout, 3, 2, Rng.fromSeed(1));
  assert.equal(canStack(conv({ variant: 'omniglot', classes: 3, inputShape: [8, 8, 1] }), jobs), false);
  assert.equal(canStack(mlp([64, 3]), jobs), true);
  assert.equal(canStack(mlp([64, 3]), jobs.slice(0, 1)), false);
  assert.equal(canStack(mlp([64, 3]), [jobs[0], { ...jobs[1], batches: jobs[1].batches.slice(1) }]), false);
});
