/**
 * Evaluation on the worker pool (AdaptPool as a TaskScorer): every task's correct count, the
 * mean accuracy and its confidence interval equal this thread's evaluation bitwise, with 1 and 2
 * threads, transductive and not, for the fused MLP, the fused native CNN and the TensorFlow.js
 * loop, on Omniglot-shaped tasks (28x28x1, 5-way 1-shot, synthetic: class prototypes plus noise,
 * so that adaptation learns and the counts vary from task to task). No tensor leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import type { Model } from '../src/nn/model.js';
import { crossEntropy, lossSpec } from '../src/nn/losses.js';
import { adam } from '../src/nn/optimizers.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import { evaluateClassification, type ClassificationEval, type TaskScorer } from '../src/eval/classification.js';
import type { KernelChoice } from '../src/algorithms/select-inner-loop.js';
import { AdaptPool } from '../src/parallel/worker-pool.js';
import { nativeKernels, nativeKernelsStatus } from '../src/kernels/fused-native.js';
import { requirement } from './support/require.js';

await useBackend('wasm');

const SIZE = 28 * 28;
/**
 * 15 classes of 4 drawings: a background shared by all classes with a few pixels of each class's
 * own flipped (the prototype), each drawing the prototype plus noise: neither easy nor hopeless.
 */
const BACKGROUND = ((rng) => Float32Array.from({ length: SIZE }, () => (rng.uniform(0, 1) < 0.2 ? 1 : 0)))(Rng.fromSeed(299));
const CLASSES: ExampleClass[] = Array.from({ length: 15 }, (_, c) => {
  const rng = Rng.fromSeed(300 + c);
  const prototype = BACKGROUND.slice();
  for (let k = 0; k < 20; k++) prototype[Math.floor(rng.uniform(0, SIZE))] = 1;
  const drawings = Float32Array.from({ length: 4 * SIZE }, (_, i) => Math.min(1, Math.max(0, prototype[i % SIZE] + rng.uniform(-0.8, 0.8))));
  return { name: `c${c}`, count: 4, image: (i, out, offset) => out.set(drawings.subarray(i * SIZE, (i + 1) * SIZE), offset) };
});
const tasks = new FewShotClassification('omniglot-shaped', CLASSES, [28, 28, 1], { ways: 5, trainShots: 3, shots: 1 });
const loss = crossEntropy('sum');
const optimizer = adam({ learningRate: 0.01, beta1: 0 });

interface Case {
  name: string;
  model: Model;
  kernels: KernelChoice;
  /** The inner loop the factory must choose (else the case would test another one). */
  loop: string;
  tasks: number;
  evalIters: number;
  skip?: string | false;
}

const nativeSkip = requirement('native', nativeKernels() !== undefined, `the native addon is ${nativeKernelsStatus()}`);
const CASES: Case[] = [
  // 70 tasks: more than one draw of tasks (64), the last one short.
  { name: 'fused MLP', model: mlp([SIZE, 32, 5]), kernels: 'all', loop: 'fused-mlp', tasks: 70, evalIters: 20 },
  { name: 'fused native CNN', model: conv({ variant: 'omniglot', classes: 5, inputShape: [28, 28, 1], filters: 16 }), kernels: ['fused-cnn-native'], loop: 'fused-cnn-native', tasks: 70, evalIters: 20, skip: nativeSkip },
  { name: 'tfjs loop (CNN)', model: conv({ variant: 'omniglot', classes: 5, inputShape: [28, 28, 1], filters: 4 }), kernels: 'none', loop: 'tfjs', tasks: 9, evalIters: 3 },
];

async function evaluate(c: Case, transductive: boolean, scorer?: TaskScorer): Promise<ClassificationEval> {
  const theta = c.model.init(Rng.fromSeed(11));
  try {
    const options = { evalIters: c.evalIters, evalBatch: 5, optimizer, kernels: c.kernels, tasks: c.tasks, transductive, scorer };
    return await evaluateClassification(c.model, loss, tasks, theta, (rng) => tasks.sampleEvalTask(rng), options, Rng.fromSeed(12));
  } finally {
    disposeParams(theta);
  }
}

for (const c of CASES) {
  test(`${c.name}: the pool's evaluation equals this thread's bitwise (1 and 2 threads, transductive and not)`, { skip: c.skip, timeout: 600_000 }, async () => {
    const recipe = { backend: 'wasm' as const, model: c.model.spec!, loss: lossSpec(loss)!, optimizer: { name: optimizer.name, config: optimizer.config }, layout: tasks, kernels: c.kernels };
    for (const transductive of [false, true]) {
      const before = tf.memory().numTensors;
      const serial = await evaluate(c, transductive);
      // The counts vary from task to task and adaptation learns: a comparison that can fail.
      assert.ok(new Set(serial.taskAccuracies).size > 1, `${c.name}: every task scored ${serial.taskAccuracies[0]}`);
      if (c.tasks >= 70) assert.ok(serial.accuracy > 0.25, `${c.name}: accuracy ${serial.accuracy} is near chance (0.2)`);
      for (const threads of [1, 2]) {
        const pool = await AdaptPool.start(threads, recipe);
        try {
          assert.equal(pool.name, c.loop);
          const pooled = await evaluate(c, transductive, pool);
          const label = `${c.name}, ${threads} thread(s), transductive ${transductive}`;
          assert.deepEqual(pooled.taskAccuracies, serial.taskAccuracies, label);
          assert.equal(pooled.accuracy, serial.accuracy, label);
          assert.equal(pooled.ci95, serial.ci95, label);
          assert.equal(pooled.tasks, c.tasks);
        } finally {
          await pool.close();
        }
      }
      assert.equal(tf.memory().numTensors, before, `${c.name}: tensors leaked`);
    }
  });
}

test('transductive and non-transductive predictions differ for the CNN (the flag reaches the threads)', { skip: nativeSkip, timeout: 600_000 }, async () => {
  const c = CASES[1];
  const recipe = { backend: 'wasm' as const, model: c.model.spec!, loss: lossSpec(loss)!, optimizer: { name: optimizer.name, config: optimizer.config }, layout: tasks, kernels: c.kernels };
  const pool = await AdaptPool.start(2, recipe);
  try {
    const [a, b] = [await evaluate(c, false, pool), await evaluate(c, true, pool)];
    assert.notDeepEqual(a.taskAccuracies, b.taskAccuracies);
  } finally {
    await pool.close();
  }
});
