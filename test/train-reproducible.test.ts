import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { adam, sgd, type OptimizerState } from '../src/nn/optimizers.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { JointTraining } from '../src/algorithms/joint.js';
import type { MetaLearner } from '../src/algorithms/meta-learner.js';
import { SineDistribution } from '../src/tasks/sine.js';
import type { Examples } from '../src/tasks/task.js';
import { DivergenceError, metaTrain, type MetaTrainOptions } from '../src/train/meta-train.js';
import { metaStepSize } from '../src/train/schedule.js';

await useBackend('wasm');

const sine = new SineDistribution();
const model = mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' });
const loss = meanSquaredError();
const setup = { model, loss, layout: sine };

type Kind = 'reptile' | 'reptile-adam' | 'joint';

function build(kind: Kind, theta0: ParamSet, learningRate = 0.02): MetaLearner {
  switch (kind) {
    case 'reptile':
      return new Reptile(setup, theta0, { innerIters: 5, innerBatch: 10, metaBatch: 1, innerOptimizer: sgd({ learningRate }) });
    case 'reptile-adam':
      return new Reptile(setup, theta0, {
        innerIters: 3,
        innerBatch: 10,
        metaBatch: 2,
        innerOptimizer: adam({ learningRate: 0.001, beta1: 0 }),
        metaOptimizer: adam({ learningRate: 0.1, beta1: 0 }),
      });
    case 'joint':
      return new JointTraining(setup, theta0, { stepsPerIteration: 5, batchSize: 10, optimizer: sgd({ learningRate }) });
  }
}

/** Meta-trains from a seed with the streams split as src/cli/streams.ts splits them; returns the raw bytes. */
async function trainFromSeed(seed: number, kind: Kind, metaIters: number): Promise<Uint8Array> {
  const root = Rng.fromSeed(seed);
  const init = root.fork();
  const tasks = root.fork();
  const batches = root.fork();
  const theta0 = model.init(init);
  const learner = build(kind, theta0);
  await metaTrain(learner, sine, { tasks, batches }, { metaIters, metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 });
  const host = await paramsToHost(learner.params);
  learner.dispose();
  disposeParams(theta0);
  const total = host.values.reduce((n, v) => n + v.byteLength, 0);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const v of host.values) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
    offset += v.byteLength;
  }
  return bytes;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

for (const kind of ['reptile', 'reptile-adam', 'joint'] as const) {
  test(`same seed gives bitwise-identical meta-parameters, another seed different ones (${kind})`, async () => {
    const a = await trainFromSeed(1234, kind, 25);
    const b = await trainFromSeed(1234, kind, 25);
    const c = await trainFromSeed(1235, kind, 25);
    assert.ok(bytesEqual(a, b), 'same seed, same bytes');
    assert.ok(!bytesEqual(a, c), 'different seed, different parameters');
  });
}

test('the task and minibatch streams both matter (training is not ignoring one of them)', async () => {
  const run = async (tasksSeed: number, batchesSeed: number) => {
    const theta0 = model.init(Rng.fromSeed(1));
    const learner = build('reptile', theta0);
    await metaTrain(learner, sine, { tasks: Rng.fromSeed(tasksSeed), batches: Rng.fromSeed(batchesSeed) }, { metaIters: 5, metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 });
    const host = await paramsToHost(learner.params);
    learner.dispose();
    disposeParams(theta0);
    return host.values.flatMap((v) => Array.from(v));
  };
  const base = await run(2, 3);
  assert.deepEqual(await run(2, 3), base);
  assert.notDeepEqual(await run(4, 3), base);
  assert.notDeepEqual(await run(2, 5), base);
});

test('metaStepSize anneals linearly: initial + (final - initial) * i / n', () => {
  const cases: [number, number, number, number][] = [
    [0.1, 0, 0, 100],
    [0.1, 0, 50, 100],
    [0.1, 0, 99, 100],
    [0.1, 0, 100, 100],
    [1, 0.25, 3, 7],
    [0.2, 0.6, 10, 40],
    [0.5, 0.5, 17, 30],
  ];
  for (const [initial, final, i, n] of cases) {
    const expected = initial + ((final - initial) * i) / n;
    assert.ok(Math.abs(metaStepSize(initial, final, i, n) - expected) < 1e-15, `metaStepSize(${initial}, ${final}, ${i}, ${n})`);
  }
  assert.equal(metaStepSize(0.1, 0, 0, 100), 0.1);
  assert.ok(Math.abs(metaStepSize(0.1, 0, 50, 100) - 0.05) < 1e-15);
  assert.ok(Math.abs(metaStepSize(1, 0, 3, 4) - 0.25) < 1e-15);
  assert.equal(metaStepSize(0.1, 0, 100, 100), 0);
});

/** A learner that records what the loop hands it and returns scripted losses. */
class ScriptedLearner implements MetaLearner {
  readonly algorithm = 'scripted';
  readonly model = model;
  readonly loss = loss;
  readonly params: ParamSet = {};
  readonly calls: { tasks: number; eps: number }[] = [];
  constructor(readonly tasksPerIteration: number, private readonly lossAt: (iteration: number) => number = () => 1) {}
  async metaStep(tasks: readonly Examples[], metaStepSize: number): Promise<number> {
    this.calls.push({ tasks: tasks.length, eps: metaStepSize });
    return Math.fround(this.lossAt(this.calls.length));
  }
  optimizerStates(): Record<string, OptimizerState | undefined> {
    return {};
  }
  restoreOptimizerStates(): void {}
  setParams(): void {}
  dispose(): void {}
}

test('metaTrain hands the learner the annealed step size and tasksPerIteration tasks each iteration', async () => {
  const learner = new ScriptedLearner(3);
  await metaTrain(learner, sine, { tasks: Rng.fromSeed(1), batches: Rng.fromSeed(2) }, { metaIters: 8, metaStep: 0.1, metaStepFinal: 0.02, evalInterval: 0 });
  assert.equal(learner.calls.length, 8);
  learner.calls.forEach((c, i) => {
    assert.equal(c.tasks, 3);
    assert.ok(Math.abs(c.eps - (0.1 + ((0.02 - 0.1) * i) / 8)) < 1e-15, `eps at iteration ${i}: ${c.eps}`);
  });
  // Resuming continues the same schedule.
  const resumed = new ScriptedLearner(1);
  await metaTrain(resumed, sine, { tasks: Rng.fromSeed(1), batches: Rng.fromSeed(2) }, { metaIters: 8, metaStep: 0.1, metaStepFinal: 0.02, evalInterval: 0, startIteration: 5 });
  assert.deepEqual(
    resumed.calls.map((c) => c.eps),
    [5, 6, 7].map((i) => 0.1 + ((0.02 - 0.1) * i) / 8),
  );
});

async function evaluationPoints(options: Partial<MetaTrainOptions> & { metaIters: number; evalInterval: number }): Promise<{ evals: number[]; iterations: number[] }> {
  const evals: number[] = [];
  const iterations: number[] = [];
  const losses: number[] = [];
  await metaTrain(new ScriptedLearner(1, (i) => i / 10), sine, { tasks: Rng.fromSeed(1), batches: Rng.fromSeed(2) }, {
    metaStep: 0.1,
    metaStepFinal: 0,
    ...options,
    onIteration: (i, l) => {
      iterations.push(i);
      losses.push(l);
    },
    onEvaluate: (i) => {
      evals.push(i);
    },
  });
  // The loss reported with each iteration is the learner's (read to the host).
  losses.forEach((l, k) => assert.ok(Math.abs(l - (k + 1) / 10) < 1e-6));
  return { evals, iterations };
}

test('onEvaluate is called every evalInterval iterations and after the last, onIteration after each', async () => {
  assert.deepEqual(await evaluationPoints({ metaIters: 10, evalInterval: 3 }), { evals: [3, 6, 9, 10], iterations: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  assert.deepEqual((await evaluationPoints({ metaIters: 9, evalInterval: 3 })).evals, [3, 6, 9]);
  assert.deepEqual((await evaluationPoints({ metaIters: 10, evalInterval: 0 })).evals, [10]);
  assert.deepEqual((await evaluationPoints({ metaIters: 4, evalInterval: 1 })).evals, [1, 2, 3, 4]);
  assert.deepEqual((await evaluationPoints({ metaIters: 5, evalInterval: 100 })).evals, [5]);
  assert.deepEqual(await evaluationPoints({ metaIters: 10, evalInterval: 3, startIteration: 4 }), { evals: [6, 9, 10], iterations: [5, 6, 7, 8, 9, 10] });
});

test('metaTrain throws DivergenceError naming the iteration where the loss stops being finite', async () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const learner = new ScriptedLearner(1, (i) => (i >= 7 ? bad : 1));
    const seen: number[] = [];
    const evals: number[] = [];
    await assert.rejects(
      metaTrain(learner, sine, { tasks: Rng.fromSeed(1), batches: Rng.fromSeed(2) }, {
        metaIters: 20,
        metaStep: 0.1,
        metaStepFinal: 0,
        evalInterval: 5,
        onIteration: (i) => {
          seen.push(i);
        },
        onEvaluate: (i) => {
          evals.push(i);
        },
      }),
      (error: unknown) => {
        assert.ok(error instanceof DivergenceError, `got ${String(error)}`);
        assert.equal(error.iteration, 7);
        assert.ok(Object.is(error.loss, bad));
        assert.match(error.message, /meta-iteration 7\b/);
        return true;
      },
    );
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], 'no iteration is reported after the divergence');
    assert.deepEqual(evals, [5]);
  }
});

test('a huge inner learning rate on sine ends in DivergenceError with the hint', async () => {
  const theta0 = model.init(Rng.fromSeed(9));
  const learner = build('reptile', theta0, 1e4);
  let lastFinite = 0;
  await assert.rejects(
    metaTrain(learner, sine, { tasks: Rng.fromSeed(10), batches: Rng.fromSeed(11) }, {
      metaIters: 200,
      metaStep: 0.1,
      metaStepFinal: 0,
      evalInterval: 0,
      onIteration: (i) => {
        lastFinite = i;
      },
    }, 'lower --learning-rate please'),
    (error: unknown) => {
      assert.ok(error instanceof DivergenceError, `got ${String(error)}`);
      assert.equal(error.iteration, lastFinite + 1, 'the error names the first non-finite iteration');
      assert.ok(!Number.isFinite(error.loss));
      assert.ok(error.message.includes(`meta-iteration ${error.iteration}`), error.message);
      assert.ok(error.message.includes('lower --learning-rate please'), error.message);
      return true;
    },
  );
  learner.dispose();
  disposeParams(theta0);
});
