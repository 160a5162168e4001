/**
 * FOMAML, MAML and the scratch baseline as meta-learners: their outer steps against the
 * meta-gradients computed directly, the tail split of the original's --foml-tail, how they differ
 * from Reptile, and no tensor leaks over many meta-iterations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsFromHost, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { adam, cloneOptimizerState, sgd } from '../src/nn/optimizers.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { Fomaml } from '../src/algorithms/fomaml.js';
import { Maml, mamlMetaGradient } from '../src/algorithms/maml.js';
import { Scratch } from '../src/algorithms/scratch.js';
import { disposeBatch, toBatch } from '../src/algorithms/inner-loop.js';
import { taskBatchIndices } from '../src/algorithms/task-batches.js';
import type { MetaLearner } from '../src/algorithms/meta-learner.js';
import { SineDistribution } from '../src/tasks/sine.js';
import type { Examples, ExampleLayoutSource } from '../src/tasks/task.js';

await useBackend('wasm');

const layout: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
const loss = meanSquaredError();
const model = mlp([1, 16, 16, 1], { activation: 'tanh', init: 'pytorch' });
const sine = new SineDistribution();
const options = { innerIters: 4, innerBatch: 10, metaBatch: 2 };
const lr = 0.05;
const eps = 0.5;

async function flat(params: ParamSet): Promise<Float64Array> {
  const host = await paramsToHost(params);
  return Float64Array.from(host.values.flatMap((v) => Array.from(v)));
}

const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/** theta + eps * mean_i(-lr g_i), g_i the (first-order or exact) meta-gradient of task i with the batches the learner draws. */
async function expectedStep(theta: ParamSet, tasks: Examples[], seed: number, firstOrder: boolean): Promise<Float64Array> {
  const rng = Rng.fromSeed(seed);
  const start = await flat(theta);
  const out = Float64Array.from(start);
  for (const task of tasks) {
    const idx = taskBatchIndices(layout, task, options.innerBatch, options.innerIters, 0, rng);
    const adaptation = idx.adaptation.map((i) => toBatch(layout, task, i));
    const final = toBatch(layout, task, idx.final);
    const r = mamlMetaGradient(model, loss, sgd({ learningRate: lr }), theta, adaptation, final, { firstOrder });
    const g = await flat(r.grads);
    g.forEach((x, i) => (out[i] -= (eps * lr * x) / tasks.length));
    disposeParams(r.grads);
    tf.dispose([r.metaLoss, r.adaptationLossSum]);
    adaptation.forEach(disposeBatch);
    disposeBatch(final);
  }
  return out;
}

const tasksFor = (seed: number) => {
  const rng = Rng.fromSeed(seed);
  return [sine.sampleTrainTask(rng), sine.sampleTrainTask(rng)];
};

test('FOMAML with SGD steps theta by eps * mean(-lr * gradient of the last minibatch at phi_{k-1}); MAML by the exact meta-gradient; Reptile differs from both', async () => {
  const theta0 = model.init(Rng.fromSeed(1));
  const tasks = tasksFor(2);
  const setup = { model, loss, layout };
  const run = async (learner: MetaLearner) => {
    await learner.metaStep(tasks, eps, Rng.fromSeed(5));
    const out = await flat(learner.params);
    learner.dispose();
    return out;
  };
  const fomaml = await run(new Fomaml(setup, theta0, { ...options, innerOptimizer: sgd({ learningRate: lr }) }));
  const maml = await run(new Maml(setup, theta0, { ...options, innerOptimizer: sgd({ learningRate: lr }) }));
  const reptile = await run(new Reptile(setup, theta0, { ...options, innerOptimizer: sgd({ learningRate: lr }) }));
  const firstOrder = await expectedStep(theta0, tasks, 5, true);
  const exact = await expectedStep(theta0, tasks, 5, false);
  assert.ok(maxDiff(fomaml, firstOrder) < 1e-6, `fomaml vs first-order step: ${maxDiff(fomaml, firstOrder)}`);
  assert.ok(maxDiff(maml, exact) < 1e-6, `maml vs exact step: ${maxDiff(maml, exact)}`);
  const start = await flat(theta0);
  const moved = (x: Float64Array) => maxDiff(x, start);
  // The three updates differ by amounts comparable to the updates themselves.
  assert.ok(maxDiff(maml, fomaml) > 0.05 * moved(maml), 'MAML and FOMAML differ');
  assert.ok(maxDiff(reptile, fomaml) > 0.05 * moved(fomaml), 'Reptile and FOMAML differ');
  disposeParams(theta0);
});

test('the --foml-tail split: the final minibatch is tail examples of each class, none of them in the adaptation minibatches', () => {
  const classLayout: ExampleLayoutSource = { kind: 'classification', inputShape: [1], targetShape: [] };
  const task: Examples = { count: 12, x: Float32Array.from({ length: 12 }, (_, i) => i), y: Int32Array.from({ length: 12 }, (_, i) => i % 3) };
  const split = taskBatchIndices(classLayout, task, 4, 5, 2, Rng.fromSeed(3));
  assert.equal(split.adaptation.length, 4);
  assert.equal(split.final.length, 6);
  assert.deepEqual([0, 1, 2].map((c) => split.final.filter((i) => task.y[i] === c).length), [2, 2, 2]);
  for (const batch of split.adaptation) {
    assert.equal(batch.length, 4);
    for (const i of batch) assert.ok(!split.final.includes(i), `adaptation example ${i} is in the tail`);
  }
  // Without a tail the k minibatches are drawn as Reptile draws them: the last is the final one.
  const plain = taskBatchIndices(classLayout, task, 4, 5, 0, Rng.fromSeed(3));
  assert.equal(plain.adaptation.length, 4);
  assert.equal(plain.final.length, 4);
  assert.throws(() => taskBatchIndices(classLayout, task, 4, 5, 5, Rng.fromSeed(3)), /class \d has only 4/);
});

test('scratch never changes its parameters and reports the loss of the initialisation', async () => {
  const theta0 = model.init(Rng.fromSeed(1));
  const learner = new Scratch({ model, loss, layout }, theta0, { batchSize: 10 });
  const start = await flat(theta0);
  for (let i = 0; i < 3; i++) {
    const l = await learner.metaStep([sine.sampleTrainTask(Rng.fromSeed(i))], 1, Rng.fromSeed(i));
    assert.ok(l > 0);
  }
  assert.equal(maxDiff(await flat(learner.params), start), 0);
  learner.dispose();
  disposeParams(theta0);
});

test('FOMAML (persistent Adam, tail, meta-Adam), MAML and scratch keep the tensor count flat over many meta-iterations', async () => {
  const theta0 = model.init(Rng.fromSeed(1));
  const setup = { model, loss, layout };
  const learners: MetaLearner[] = [
    new Fomaml(setup, theta0, { ...options, innerOptimizer: adam({ learningRate: 0.001, beta1: 0 }), tailShots: 5, metaOptimizer: adam({ learningRate: 0.1 }) }),
    new Maml(setup, theta0, { ...options, innerOptimizer: sgd({ learningRate: lr, momentum: 0.5 }) }),
    new Scratch(setup, theta0, { batchSize: 10 }),
  ];
  const rng = Rng.fromSeed(9);
  for (const learner of learners) {
    const run = async () => {
      const tasks = Array.from({ length: learner.tasksPerIteration }, () => sine.sampleTrainTask(rng));
      await learner.metaStep(tasks, 0.1, rng);
    };
    await run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await run();
    assert.equal(tf.memory().numTensors, before, `${learner.algorithm} leaks tensors`);
    learner.dispose();
  }
  disposeParams(theta0);
});

test('MAML refuses an inner optimizer it cannot differentiate through', () => {
  const theta0 = model.init(Rng.fromSeed(1));
  assert.throws(() => new Maml({ model, loss, layout }, theta0, { ...options, innerOptimizer: adam({ learningRate: 0.001 }) }), /must be sgd/);
  disposeParams(theta0);
});

test('FOMAML and MAML resume from their saved states exactly (what a checkpoint holds: parameters, optimizer states, random stream)', async () => {
  const theta0 = model.init(Rng.fromSeed(1));
  const setup = { model, loss, layout };
  const builders: (() => MetaLearner)[] = [
    () => new Fomaml(setup, theta0, { ...options, innerOptimizer: adam({ learningRate: 0.001, beta1: 0 }), metaOptimizer: adam({ learningRate: 0.01 }) }),
    () => new Maml(setup, theta0, { ...options, innerOptimizer: sgd({ learningRate: lr }), metaOptimizer: adam({ learningRate: 0.01 }) }),
  ];
  const taskRng = Rng.fromSeed(11);
  const tasks = Array.from({ length: 8 }, () => [sine.sampleTrainTask(taskRng), sine.sampleTrainTask(taskRng)]);
  for (const build of builders) {
    const straight = build();
    const rngA = Rng.fromSeed(12);
    for (const t of tasks) await straight.metaStep(t, 0.5, rngA);

    const first = build();
    const rngB = Rng.fromSeed(12);
    for (const t of tasks.slice(0, 4)) await first.metaStep(t, 0.5, rngB);
    // A checkpoint is a host copy; take one and continue in a fresh learner.
    const params = paramsFromHost(await paramsToHost(first.params));
    const states = Object.fromEntries(Object.entries(first.optimizerStates()).map(([k, s]) => [k, s && cloneOptimizerState(s)]));
    const rngState = rngB.state();
    first.dispose();
    const resumed = build();
    resumed.setParams(params);
    resumed.restoreOptimizerStates(states);
    const rngC = Rng.fromState(rngState);
    for (const t of tasks.slice(4)) await resumed.metaStep(t, 0.5, rngC);
    assert.equal(maxDiff(await flat(resumed.params), await flat(straight.params)), 0, `${straight.algorithm} resumed differs`);
    straight.dispose();
    resumed.dispose();
  }
  disposeParams(theta0);
});
