import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, mapParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { adam, sgd } from '../src/nn/optimizers.js';
import { SineDistribution } from '../src/tasks/sine.js';
import type { EvalTask } from '../src/tasks/task.js';
import { adaptAndTrace, evaluateRegression } from '../src/eval/regression.js';
import { ci95, mean, std } from '../src/eval/stats.js';

await useBackend('wasm');

const sine = new SineDistribution();
const model = mlp([1, 32, 32, 1], { activation: 'tanh', init: 'pytorch' });
const loss = meanSquaredError();
const sample = (rng: Rng) => sine.sampleEvalTask(rng);

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected}, got ${actual}`);

test('mean, population std and ci95 = 1.96 std / sqrt(n), by hand', () => {
  close(mean([1, 2, 3, 4]), 2.5, 1e-15);
  // population variance of 1..4 = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
  close(std([1, 2, 3, 4]), Math.sqrt(1.25), 1e-15);
  close(ci95([1, 2, 3, 4]), (1.96 * Math.sqrt(1.25)) / 2, 1e-15);
  // The textbook example: mean 5, population std exactly 2 (the sample std would be 2.138).
  close(std([2, 4, 4, 4, 5, 5, 7, 9]), 2, 1e-15);
  close(ci95([2, 4, 4, 4, 5, 5, 7, 9]), (1.96 * 2) / Math.sqrt(8), 1e-15);
  close(ci95([3, 3, 3]), 0, 0);
  close(ci95([5]), 0, 0);
  close(ci95([0, 10]), (1.96 * 5) / Math.sqrt(2), 1e-15);
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(ci95([])));
});

async function hostValues(params: ParamSet): Promise<number[]> {
  return (await paramsToHost(params)).values.flatMap((v) => Array.from(v));
}

const options = { evalIters: 32, evalBatch: 10, optimizer: sgd({ learningRate: 0.02 }), tasks: 8 };

test('evaluateRegression leaves the meta-parameters unchanged and leaks no tensors', async () => {
  const params = model.init(Rng.fromSeed(1));
  const before = await hostValues(params);
  // Warm-up (kernels and backend buffers created on first use are not leaks).
  await evaluateRegression(model, loss, sine, params, sample, { ...options, tasks: 1 }, Rng.fromSeed(2));
  const tensors = tf.memory().numTensors;
  for (const optimizer of [sgd({ learningRate: 0.02 }), sgd({ learningRate: 0.02, momentum: 0.9 }), adam({ learningRate: 0.01, beta1: 0 })]) {
    const result = await evaluateRegression(model, loss, sine, params, sample, { ...options, optimizer }, Rng.fromSeed(2));
    assert.equal(result.tasks, 8);
    assert.ok(Number.isFinite(result.mseAfter) && Number.isFinite(result.mseBefore));
    assert.equal(tf.memory().numTensors, tensors, `${optimizer.name}: tensor count`);
  }
  assert.deepEqual(await hostValues(params), before, 'meta-parameters unchanged');
  assert.ok(Object.values(params).every((p) => !p.isDisposed), 'meta-parameters still alive');
  disposeParams(params);
});

test('mseBefore is the query MSE of the meta-parameters; adaptation lowers it', async () => {
  // All-zero parameters predict 0: the query MSE is mean(y^2) over the grid.
  const zeros = mapParams(model.init(Rng.fromSeed(1)), (p) => tf.zerosLike(p));
  const seen: EvalTask[] = [];
  const result = await evaluateRegression(model, loss, sine, zeros, (rng) => {
    const task = sample(rng);
    seen.push(task);
    return task;
  }, options, Rng.fromSeed(3));
  assert.equal(seen.length, 8);
  const expected = mean(seen.map((t) => mean(Array.from(t.query.y, (y) => y * y))));
  close(result.mseBefore, expected, 1e-4 * expected, 'mseBefore');
  disposeParams(zeros);

  const params = model.init(Rng.fromSeed(1));
  const r = await evaluateRegression(model, loss, sine, params, sample, options, Rng.fromSeed(3));
  assert.ok(r.mseAfter < r.mseBefore, `32 SGD steps should reduce the MSE: ${r.mseBefore} -> ${r.mseAfter}`);
  assert.equal(r.evalIters, 32);
  disposeParams(params);
});

test('evaluateRegression aggregates the per-task traces (mean and ci95 of the losses after evalIters steps)', async () => {
  const params = model.init(Rng.fromSeed(4));
  const result = await evaluateRegression(model, loss, sine, params, sample, options, Rng.fromSeed(5));
  // Replay the same tasks and minibatches: sampleTask, then the adaptation, from one stream.
  const rng = Rng.fromSeed(5);
  const before: number[] = [];
  const one: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < options.tasks; i++) {
    const task = sample(rng);
    const { losses } = await adaptAndTrace(model, loss, sine, params, task, options, [0, 1, 32], rng);
    before.push(losses[0]);
    one.push(losses[1]);
    after.push(losses[2]);
  }
  close(result.mseBefore, mean(before), 1e-9, 'mseBefore');
  close(result.mseAfterOneStep, mean(one), 1e-9, 'mseAfterOneStep');
  close(result.mseAfter, mean(after), 1e-9, 'mseAfter');
  close(result.ci95, ci95(after), 1e-9, 'ci95');
  close(result.ci95Before, ci95(before), 1e-9, 'ci95Before');
  assert.ok(result.ci95 > 0);
  disposeParams(params);
});

test('adaptAndTrace: losses at the requested steps, predictions on the query grid', async () => {
  const params = model.init(Rng.fromSeed(6));
  const task = sine.sampleEvalTask(Rng.fromSeed(7));
  const trace = await adaptAndTrace(model, loss, sine, params, task, options, [0, 5, 32], Rng.fromSeed(8), true);
  assert.equal(trace.losses.length, 3);
  assert.equal(trace.predictions?.length, 3);
  for (const [j, p] of trace.predictions!.entries()) {
    assert.equal(p.length, 50);
    // Each recorded loss is the MSE of the recorded predictions.
    const mse = mean(Array.from(p, (v, i) => (v - task.query.y[i]) ** 2));
    close(trace.losses[j], mse, 1e-4 * Math.max(1, mse), `loss at step index ${j}`);
  }
  // The step-0 prediction is the meta-parameters' own.
  const direct = tf.tidy(() => model.apply(params, tf.tensor2d(task.query.x, [50, 1])));
  assert.deepEqual(Array.from(await direct.data()), Array.from(trace.predictions![0]));
  direct.dispose();
  disposeParams(params);
});

test('with evalIters 0, mseAfter equals mseBefore', async () => {
  const params = model.init(Rng.fromSeed(9));
  const r = await evaluateRegression(model, loss, sine, params, sample, { ...options, evalIters: 0 }, Rng.fromSeed(10));
  assert.equal(r.mseAfter, r.mseBefore);
  assert.equal(r.mseAfterOneStep, r.mseBefore);
  assert.equal(r.ci95, r.ci95Before);
  assert.equal(r.evalIters, 0);
  disposeParams(params);
});

test('same rng state gives the same numbers; another state different ones', async () => {
  const params = model.init(Rng.fromSeed(11));
  const state = Rng.fromSeed(12).state();
  const a = await evaluateRegression(model, loss, sine, params, sample, options, Rng.fromState(state));
  const b = await evaluateRegression(model, loss, sine, params, sample, options, Rng.fromState(state));
  const c = await evaluateRegression(model, loss, sine, params, sample, options, Rng.fromSeed(13));
  assert.deepEqual(a, b);
  assert.notEqual(a.mseAfter, c.mseAfter);
  disposeParams(params);
});
