/**
 * Reptile with the tasks of a meta-batch adapted in parallel (src/parallel: the main thread and
 * worker threads): the same seed gives bitwise the same meta-parameters with 1, 2 or 3 threads; with a fresh inner optimizer
 * per task (or one task per meta-iteration) it also equals the in-process serial loop; no tensor
 * leaks on the main thread; a worker that dies or cannot start gives a clear error, not a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { crossEntropy, lossSpec } from '../src/nn/losses.js';
import { adam } from '../src/nn/optimizers.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { metaTrain } from '../src/train/meta-train.js';
import { AdaptPool } from '../src/parallel/worker-pool.js';
import type { AdaptRecipe } from '../src/parallel/protocol.js';
import type { KernelChoice } from '../src/algorithms/select-inner-loop.js';
import { ParamStore } from '../src/core/param-store.js';
import { FusedMlp } from '../src/kernels/fused-mlp.js';
import { assertPoolEqualsOneThread } from './support/fused-pool.js';

await useBackend('wasm');

/** 12 classes of 6 random 4x4 images: small enough to be quick, real enough to learn. */
const CLASSES: ExampleClass[] = Array.from({ length: 12 }, (_, c) => {
  const rng = Rng.fromSeed(100 + c);
  const pixels = Float32Array.from({ length: 6 * 16 }, () => rng.uniform(0, 1));
  return { name: `c${c}`, count: 6, image: (i, out, offset) => out.set(pixels.subarray(i * 16, (i + 1) * 16), offset) };
});
const tasks = new FewShotClassification('tiny', CLASSES, [4, 4, 1], { ways: 3, trainShots: 4, shots: 1 });
const model = mlp([16, 8, 3]);
const loss = crossEntropy('sum');
const optimizer = adam({ learningRate: 0.01, beta1: 0 });
// The pool itself, with the TensorFlow.js inner loop (Reptile adapts fused-MLP meta-batches in one
// thread instead: test/kernels-fused-mlp.test.ts checks that it computes what the pool computes).
const recipe: AdaptRecipe = { backend: 'wasm', model: model.spec, loss: lossSpec(loss)!, optimizer: { name: optimizer.name, config: optimizer.config }, layout: tasks, kernels: 'none' };

async function train(options: { workers: number; metaBatch: number; persist: boolean; iters?: number; commonStart?: boolean; kernels?: KernelChoice }): Promise<Float32Array[]> {
  const kernels = options.kernels ?? 'none';
  const pool = options.workers > 0 ? await AdaptPool.start(options.workers, { ...recipe, kernels }) : undefined;
  try {
    const rng = Rng.fromSeed(5);
    const theta = model.init(rng.fork());
    // The pool's semantics: every task of a meta-batch from the same inner state ('common').
    const innerState = !options.persist ? 'fresh' : pool || options.commonStart ? 'common' : 'chain';
    const reptile = new Reptile({ model, loss, layout: tasks }, theta, {
      innerIters: 3, innerBatch: 4, metaBatch: options.metaBatch, innerOptimizer: optimizer, innerState, innerLoop: pool, kernels,
    });
    disposeParams(theta);
    await metaTrain(reptile, tasks, { tasks: rng.fork(), batches: rng.fork() }, { metaIters: options.iters ?? 6, metaStep: 0.5, metaStepFinal: 0, evalInterval: 0 });
    const host = await paramsToHost(reptile.params);
    reptile.dispose();
    return host.values;
  } finally {
    await pool?.close();
  }
}

function assertBitwiseEqual(a: Float32Array[], b: Float32Array[], label: string): void {
  assert.equal(a.length, b.length);
  a.forEach((v, k) => assert.deepEqual(Array.from(v), Array.from(b[k]), `${label}: parameter ${k} differs`));
}

test('1, 2 and 3 workers give bitwise the same meta-parameters (inner Adam state kept across iterations)', async () => {
  const one = await train({ workers: 1, metaBatch: 5, persist: true });
  assertBitwiseEqual(await train({ workers: 2, metaBatch: 5, persist: true }), one, '2 workers');
  assertBitwiseEqual(await train({ workers: 3, metaBatch: 5, persist: true }), one, '3 workers');
  const start = await paramsToHost(model.init(Rng.fromSeed(5).fork()));
  assert.notDeepEqual(Array.from(one[0]), Array.from(start.values[0]), 'training changed nothing');
});

test("the pool's semantics in one thread (inner state 'common', no workers) give the pool's numbers, bitwise", async () => {
  const pooled = await train({ workers: 2, metaBatch: 5, persist: true });
  assertBitwiseEqual(await train({ workers: 0, metaBatch: 5, persist: true, commonStart: true }), pooled, 'one thread');
  // The fused kernel's 'common' sequence: the same to float32 rounding (not bitwise: another kernel).
  const fused = await train({ workers: 0, metaBatch: 5, persist: true, commonStart: true, kernels: 'all' });
  fused.forEach((v, k) => v.forEach((e, i) => assert.ok(Math.abs(e - pooled[k][i]) <= 1e-4 * Math.max(1, Math.abs(e)), `parameter ${k}[${i}]`)));
});

test('workers equal the serial in-process loop with a fresh inner state per task', async () => {
  assertBitwiseEqual(await train({ workers: 2, metaBatch: 4, persist: false }), await train({ workers: 0, metaBatch: 4, persist: false }), 'fresh state');
});

test('workers equal the serial loop with one task per meta-iteration, state kept', async () => {
  assertBitwiseEqual(await train({ workers: 2, metaBatch: 1, persist: true }), await train({ workers: 0, metaBatch: 1, persist: true }), 'meta-batch 1');
});

test('the main thread leaks no tensor over many parallel meta-iterations', async () => {
  await train({ workers: 2, metaBatch: 3, persist: true, iters: 2 });
  const before = tf.memory().numTensors;
  await train({ workers: 2, metaBatch: 3, persist: true, iters: 30 });
  assert.equal(tf.memory().numTensors, before);
});

test('a worker that exits mid-request fails the request with an error naming it, and the pool stays failed', async () => {
  const pool = await AdaptPool.start(2, recipe);
  try {
    const rng = Rng.fromSeed(1);
    const theta = await paramsToHost(model.init(rng));
    const job = (steps: number) => {
      const task = tasks.sampleTrainTask(rng);
      return { ...task, batches: Array.from({ length: steps }, () => [0, 1, 2, 3]) };
    };
    // The main thread's share (the last job) is one step; the worker's (job 0) is long, so it is
    // still running when its thread is terminated.
    const request = pool.adaptTasks(ParamStore.ofHost(theta), undefined, [job(200000), job(1)], { mode: 'fresh' });
    await pool.threads[0].terminate();
    await assert.rejects(request, /adaptation worker 1 exited/);
    await assert.rejects(pool.adaptTasks(ParamStore.ofHost(theta), undefined, [job(1), job(1)], { mode: 'fresh' }), /adaptation worker 1/);
  } finally {
    await pool.close();
  }
});

test('a worker that cannot build the model fails the pool start with its message', async () => {
  const bad = { ...recipe, optimizer: { name: 'rmsprop', config: {} } };
  await assert.rejects(AdaptPool.start(2, bad), /unknown optimizer 'rmsprop'/);
});

test('a pool with the fused MLP loop in its threads computes what the fused kernel computes in one thread', async () => {
  const pool = await AdaptPool.start(2, { ...recipe, kernels: 'all' });
  try {
    const rng = Rng.fromSeed(4);
    const theta = await paramsToHost(model.init(rng));
    const jobs = Array.from({ length: 3 }, () => ({ ...tasks.sampleTrainTask(rng), batches: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]] }));
    await assertPoolEqualsOneThread(pool, FusedMlp.create(model.spec, lossSpec(loss), optimizer, 1)!, theta, jobs);
  } finally {
    await pool.close();
  }
});
