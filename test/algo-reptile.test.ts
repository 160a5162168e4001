import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { cloneParams, disposeParams, meanParams, paramsToHost, subtract, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { adam, sgd, disposeOptimizerState, type Optimizer, type OptimizerState } from '../src/nn/optimizers.js';
import { Reptile, reptileMetaGradient } from '../src/algorithms/reptile.js';
import { JointTraining } from '../src/algorithms/joint.js';
import { disposeBatch, toBatch } from '../src/algorithms/inner-loop.js';
import { adapt } from './support/tfjs-adapt.js';
import type { MetaLearner } from '../src/algorithms/meta-learner.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { minibatchIndices, type Examples, type ExampleLayoutSource } from '../src/tasks/task.js';
import { metaTrain } from '../src/train/meta-train.js';

await useBackend('wasm');

const layout: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
const loss = meanSquaredError();

/** The model y = w x + b, as a 1-1 dense layer. */
const linear = mlp([1, 1]);
const linearParams = (w: number, b: number): ParamSet => ({
  'dense0/kernel': tf.tensor2d([[w]]),
  'dense0/bias': tf.tensor1d([b]),
});

const oneExample = (x: number, y: number): Examples => ({ count: 1, x: Float32Array.of(x), y: Float32Array.of(y) });

async function readWB(params: ParamSet): Promise<[number, number]> {
  const host = await paramsToHost(params);
  return [host.values[0][0], host.values[1][0]];
}

async function flat(params: ParamSet): Promise<Float64Array> {
  const host = await paramsToHost(params);
  return Float64Array.from(host.values.flatMap((v) => Array.from(v)));
}

function dist(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function diff(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v - b[i]);
}

const close = (actual: number, expected: number, tol = 1e-6, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected}, got ${actual}`);

// Hand computation for the model y = w x + b, loss (w x + b - y)^2, theta = (w 0.5, b 0.25):
//   task A: x = 2, y = 3:   r = 0.5*2 + 0.25 - 3 = -1.75; dL/dw = 2 r x = -7;  dL/db = 2 r = -3.5
//     one SGD step with lr 0.1:  phi_A = (0.5 + 0.7, 0.25 + 0.35) = (1.2, 0.6);  loss 3.0625
//   task B: x = -1, y = 1:  r = -0.5 + 0.25 - 1 = -1.25; dL/dw = 2 r x = 2.5;  dL/db = -2.5
//     one SGD step with lr 0.1:  phi_B = (0.5 - 0.25, 0.25 + 0.25) = (0.25, 0.5);  loss 1.5625
test('Reptile Algorithm 1 (meta-batch 1): theta + eps (phi - theta), by hand', async () => {
  const theta0 = linearParams(0.5, 0.25);
  const learner = new Reptile({ model: linear, loss, layout }, theta0, {
    innerIters: 1,
    innerBatch: 1,
    metaBatch: 1,
    innerOptimizer: sgd({ learningRate: 0.1 }),
  });
  const l = await learner.metaStep([oneExample(2, 3)], 0.5, Rng.fromSeed(1));
  close(l, 3.0625, 1e-5, 'mean inner loss');
  const [w, b] = await readWB(learner.params);
  // theta <- 0.5 + 0.5 (1.2 - 0.5) = 0.85;  0.25 + 0.5 (0.6 - 0.25) = 0.425
  close(w, 0.85, 1e-6, 'w');
  close(b, 0.425, 1e-6, 'b');
  // The learner cloned its initial parameters: the caller's are untouched.
  assert.deepEqual(await readWB(theta0), [0.5, 0.25]);
  learner.dispose();
  disposeParams(theta0);
});

test('Reptile Algorithm 2 (meta-batch 2): theta + eps (mean phi - theta), every task adapted from theta', async () => {
  const theta0 = linearParams(0.5, 0.25);
  const learner = new Reptile({ model: linear, loss, layout }, theta0, {
    innerIters: 1,
    innerBatch: 1,
    metaBatch: 2,
    innerOptimizer: sgd({ learningRate: 0.1 }),
  });
  const l = await learner.metaStep([oneExample(2, 3), oneExample(-1, 1)], 0.5, Rng.fromSeed(1));
  // Mean of the two inner losses (each task starts from theta, not from the other task's phi).
  close(l, (3.0625 + 1.5625) / 2, 1e-5, 'mean inner loss');
  const [w, b] = await readWB(learner.params);
  // mean phi = ((1.2 + 0.25) / 2, (0.6 + 0.5) / 2) = (0.725, 0.55)
  // theta <- 0.5 + 0.5 (0.725 - 0.5) = 0.6125;  0.25 + 0.5 (0.55 - 0.25) = 0.4
  close(w, 0.6125, 1e-6, 'w');
  close(b, 0.4, 1e-6, 'b');
  learner.dispose();
  disposeParams(theta0);
});

test('Reptile with k = 2 inner steps and eps = 1 lands exactly on phi (by hand)', async () => {
  // task A with lr 0.05: step 1: (0.5 + 0.35, 0.25 + 0.175) = (0.85, 0.425);
  //   r = 1.7 + 0.425 - 3 = -0.875, grads (-3.5, -1.75); step 2: (0.85 + 0.175, 0.425 + 0.0875) = (1.025, 0.5125)
  const theta0 = linearParams(0.5, 0.25);
  const learner = new Reptile({ model: linear, loss, layout }, theta0, {
    innerIters: 2,
    innerBatch: 1,
    metaBatch: 1,
    innerOptimizer: sgd({ learningRate: 0.05 }),
  });
  const l = await learner.metaStep([oneExample(2, 3)], 1, Rng.fromSeed(1));
  // mean of the two minibatch losses: (1.75^2 + 0.875^2) / 2
  close(l, (3.0625 + 0.765625) / 2, 1e-5, 'mean inner loss');
  const [w, b] = await readWB(learner.params);
  close(w, 1.025, 1e-6, 'w');
  close(b, 0.5125, 1e-6, 'b');
  learner.dispose();
  disposeParams(theta0);
});

test('reptileMetaGradient is theta - mean(phi) (by hand)', async () => {
  const theta = linearParams(0.5, 0.25);
  const phiA = linearParams(1.2, 0.6);
  const phiB = linearParams(0.25, 0.5);
  const g = reptileMetaGradient(theta, [phiA, phiB]);
  const [gw, gb] = await readWB(g);
  close(gw, 0.5 - 0.725, 1e-6, 'g_w');
  close(gb, 0.25 - 0.55, 1e-6, 'g_b');
  [theta, phiA, phiB, g].forEach(disposeParams);
});

test('Reptile rejects a meta-batch of the wrong size and bad options', async () => {
  const theta0 = linearParams(0, 0);
  const learner = new Reptile({ model: linear, loss, layout }, theta0, { innerIters: 1, innerBatch: 1, metaBatch: 2, innerOptimizer: sgd({ learningRate: 0.1 }) });
  await assert.rejects(() => learner.metaStep([oneExample(1, 1)], 0.1, Rng.fromSeed(0)), /expects 2 tasks/);
  assert.throws(() => new Reptile({ model: linear, loss, layout }, theta0, { innerIters: 0, innerBatch: 1, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.1 }) }), RangeError);
  learner.dispose();
  disposeParams(theta0);
});

// --- Direction of the outer update --------------------------------------------------------

const sine = new SineDistribution();
const smallNet = mlp([1, 16, 1], { activation: 'tanh', init: 'pytorch' });

/**
 * phi for a full-batch task: every minibatch holds all 50 examples, so the minibatch order
 * does not matter and phi is a function of theta alone.
 */
function adaptFullBatch(theta: ParamSet, task: Examples, innerIters: number, optimizer: Optimizer): ParamSet {
  const batches = Array.from({ length: innerIters }, () => toBatch(layout, task));
  const state = optimizer.init(theta);
  const result = adapt(smallNet, loss, optimizer, theta, state, batches);
  batches.forEach(disposeBatch);
  disposeOptimizerState(state);
  disposeOptimizerState(result.state);
  result.lossSum.dispose();
  return result.params;
}

interface DirectionCase {
  name: string;
  metaOptimizer?: Optimizer;
  eps: number;
}

const directionCases: DirectionCase[] = [
  { name: 'interpolation', eps: 0.1 },
  { name: 'meta-optimizer SGD', metaOptimizer: sgd({ learningRate: 0.1 }), eps: 0.1 },
  { name: 'meta-optimizer Adam', metaOptimizer: adam({ learningRate: 0.01, beta1: 0 }), eps: 0.01 },
  { name: 'meta-optimizer Adam (beta1 0.9)', metaOptimizer: adam({ learningRate: 0.01 }), eps: 0.01 },
];

for (const c of directionCases) {
  test(`Reptile moves theta towards the adapted weights (${c.name})`, async () => {
    const rng = Rng.fromSeed(7);
    const theta0 = smallNet.init(rng);
    const tasks = [sine.sampleTrainTask(rng), sine.sampleTrainTask(rng)];
    const inner = sgd({ learningRate: 0.05 });
    const phis = tasks.map((t) => adaptFullBatch(theta0, t, 5, inner));
    const meanPhi = meanParams(phis);
    const learner = new Reptile({ model: smallNet, loss, layout: sine }, theta0, {
      innerIters: 5,
      innerBatch: 50,
      metaBatch: 2,
      innerOptimizer: inner,
      metaOptimizer: c.metaOptimizer,
    });
    await learner.metaStep(tasks, c.eps, Rng.fromSeed(8));

    const t0 = await flat(theta0);
    const t1 = await flat(learner.params);
    const target = await flat(meanPhi);
    assert.ok(dist(t0, target) > 1e-2, 'the inner loop moved the weights');
    // Closer to mean phi, and the step has a positive component along mean(phi) - theta.
    assert.ok(dist(t1, target) < dist(t0, target), `distance to mean phi ${dist(t0, target)} -> ${dist(t1, target)}`);
    assert.ok(dot(diff(t1, t0), diff(target, t0)) > 0, 'the step points towards mean phi');

    // The article's sign (grad = phi - theta) fed to the same optimizer walks away: this test
    // would fail for an implementation that copied it.
    if (c.metaOptimizer) {
      const flipped = subtract(meanPhi, theta0);
      const state: OptimizerState = c.metaOptimizer.init(theta0);
      const wrong = c.metaOptimizer.step(theta0, flipped, state, c.eps);
      const tw = await flat(wrong.params);
      assert.ok(dist(tw, target) > dist(t0, target), 'the flipped sign moves away from mean phi');
      assert.ok(dot(diff(tw, t0), diff(target, t0)) < 0);
      // ...and the correct sign, fed by hand, is what the learner did.
      const g = reptileMetaGradient(theta0, phis);
      const right = c.metaOptimizer.step(theta0, g, c.metaOptimizer.init(theta0), c.eps);
      const tr = await flat(right.params);
      assert.ok(dist(tr, t1) < 1e-5, `learner step differs from optimizer.step(theta, theta - mean phi) by ${dist(tr, t1)}`);
      [flipped, wrong.params, g, right.params].forEach(disposeParams);
      [state, wrong.state, right.state].forEach(disposeOptimizerState);
    }
    learner.dispose();
    [theta0, meanPhi, ...phis].forEach(disposeParams);
  });
}

test('meta-optimizer SGD with rate eps gives the same theta as interpolation', async () => {
  const theta0 = smallNet.init(Rng.fromSeed(3));
  const make = (metaOptimizer?: Optimizer) =>
    new Reptile({ model: smallNet, loss, layout: sine }, theta0, {
      innerIters: 3,
      innerBatch: 10,
      metaBatch: 2,
      innerOptimizer: sgd({ learningRate: 0.02 }),
      metaOptimizer,
    });
  const a = make();
  // The configured rate is overridden by the annealed step size each meta-step.
  const b = make(sgd({ learningRate: 123 }));
  for (const learner of [a, b]) {
    await metaTrain(learner, sine, { tasks: Rng.fromSeed(11), batches: Rng.fromSeed(12) }, { metaIters: 20, metaStep: 0.5, metaStepFinal: 0.1, evalInterval: 0 });
  }
  const ta = await flat(a.params);
  const tb = await flat(b.params);
  const t0 = await flat(theta0);
  assert.ok(dist(ta, t0) > 1e-2, 'theta moved');
  for (let i = 0; i < ta.length; i++) close(tb[i], ta[i], 1e-5, `param ${i}`);
  a.dispose();
  b.dispose();
  disposeParams(theta0);
});

// --- Inner optimizer state ------------------------------------------------------------------

async function runManual(theta0: ParamSet, tasks: Examples[][], persist: boolean, eps: number, rng: Rng, innerIters: number, innerBatch: number, opt: Optimizer): Promise<Float64Array> {
  let theta = cloneParams(theta0);
  let state: OptimizerState | undefined;
  for (const metaBatch of tasks) {
    const phis: ParamSet[] = [];
    for (const task of metaBatch) {
      const batches = minibatchIndices(task.count, innerBatch, innerIters, rng).map((idx) => toBatch(layout, task, idx));
      const start = persist && state ? state : opt.init(theta);
      const r = adapt(smallNet, loss, opt, theta, start, batches);
      batches.forEach(disposeBatch);
      disposeOptimizerState(start);
      r.lossSum.dispose();
      state = persist ? r.state : undefined;
      if (!persist) disposeOptimizerState(r.state);
      phis.push(r.params);
    }
    const mean = meanParams(phis);
    const next: ParamSet = Object.fromEntries(Object.keys(theta).map((n) => [n, tf.tidy(() => tf.add(theta[n], tf.mul(tf.sub(mean[n], theta[n]), eps)))]));
    [theta, mean, ...phis].forEach(disposeParams);
    theta = next;
  }
  disposeOptimizerState(state);
  const out = await flat(theta);
  disposeParams(theta);
  return out;
}

test("innerState 'chain' carries the inner Adam state across tasks, 'fresh' starts each task fresh", async () => {
  const rng = Rng.fromSeed(21);
  const theta0 = smallNet.init(rng);
  const tasks = [0, 1].map(() => [sine.sampleTrainTask(rng), sine.sampleTrainTask(rng)]);
  const inner = adam({ learningRate: 0.01, beta1: 0, beta2: 0.999 });
  const results: Record<string, Float64Array> = {};
  for (const persist of [true, false]) {
    const learner = new Reptile({ model: smallNet, loss, layout: sine }, theta0, { innerIters: 3, innerBatch: 10, metaBatch: 2, innerOptimizer: inner, innerState: persist ? 'chain' : 'fresh' });
    const batchRng = Rng.fromSeed(22);
    await learner.metaStep(tasks[0], 0.5, batchRng);
    const afterFirst = learner.optimizerStates().inner?.step;
    await learner.metaStep(tasks[1], 0.5, batchRng);
    const afterSecond = learner.optimizerStates().inner?.step;
    if (persist) {
      // 2 tasks x 3 steps per meta-iteration; the count keeps growing.
      assert.equal(afterFirst, 6);
      assert.equal(afterSecond, 12);
    } else {
      assert.ok(afterFirst === undefined || afterFirst <= 3, `fresh state per task, got step ${afterFirst}`);
      assert.ok(afterSecond === undefined || afterSecond <= 3, `fresh state per task, got step ${afterSecond}`);
    }
    results[String(persist)] = await flat(learner.params);
    const manual = await runManual(theta0, tasks, persist, 0.5, Rng.fromSeed(22), 3, 10, inner);
    const d = dist(results[String(persist)], manual);
    assert.ok(d < 1e-5, `persist=${persist}: learner differs from the reference computation by ${d}`);
    learner.dispose();
  }
  assert.ok(dist(results.true, results.false) > 1e-4, 'persisting the state changes the result');
  disposeParams(theta0);
});

test("innerState defaults to 'chain' (the original code)", async () => {
  const rng = Rng.fromSeed(5);
  const theta0 = smallNet.init(rng);
  const learner = new Reptile({ model: smallNet, loss, layout: sine }, theta0, { innerIters: 2, innerBatch: 10, metaBatch: 1, innerOptimizer: adam({ learningRate: 0.01, beta1: 0 }) });
  await learner.metaStep([sine.sampleTrainTask(rng)], 0.1, rng);
  await learner.metaStep([sine.sampleTrainTask(rng)], 0.1, rng);
  assert.equal(learner.optimizerStates().inner?.step, 4);
  learner.dispose();
  disposeParams(theta0);
});

// --- Memory ---------------------------------------------------------------------------------

async function assertNoLeak(name: string, make: (theta0: ParamSet) => MetaLearner): Promise<void> {
  const model = mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' });
  const root = Rng.fromSeed(0);
  const before = tf.memory().numTensors;
  const theta0 = model.init(root.fork());
  const learner = make(theta0);
  const streams = { tasks: root.fork(), batches: root.fork() };
  const options = { metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 };
  await metaTrain(learner, sine, streams, { ...options, metaIters: 1 });
  const warm = tf.memory().numTensors;
  let maxSeen = warm;
  await metaTrain(learner, sine, streams, {
    ...options,
    metaIters: 101,
    startIteration: 1,
    onIteration: () => {
      maxSeen = Math.max(maxSeen, tf.memory().numTensors);
    },
  });
  assert.equal(tf.memory().numTensors, warm, `${name}: tensors after 100 meta-iterations`);
  assert.equal(maxSeen, warm, `${name}: tensor count grew during training`);
  learner.dispose();
  disposeParams(theta0);
  assert.equal(tf.memory().numTensors, before, `${name}: dispose() frees everything`);
}

test('no tensor leak over 100 meta-iterations: Reptile (interpolation, SGD inner)', async () => {
  await assertNoLeak('reptile', (theta0) =>
    new Reptile({ model: mlp([1, 64, 64, 1], { activation: 'tanh' }), loss, layout: sine }, theta0, { innerIters: 5, innerBatch: 10, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.02 }) }),
  );
});

test('no tensor leak over 100 meta-iterations: Reptile (Adam inner kept, Adam meta-optimizer, meta-batch 2)', async () => {
  await assertNoLeak('reptile-adam', (theta0) =>
    new Reptile({ model: mlp([1, 64, 64, 1], { activation: 'tanh' }), loss, layout: sine }, theta0, {
      innerIters: 3,
      innerBatch: 10,
      metaBatch: 2,
      innerOptimizer: adam({ learningRate: 0.001, beta1: 0 }),
      metaOptimizer: adam({ learningRate: 0.1, beta1: 0 }),
    }),
  );
});

test('no tensor leak over 100 meta-iterations: JointTraining (SGD and Adam)', async () => {
  await assertNoLeak('joint-sgd', (theta0) =>
    new JointTraining({ model: mlp([1, 64, 64, 1], { activation: 'tanh' }), loss, layout: sine }, theta0, { stepsPerIteration: 5, batchSize: 10, optimizer: sgd({ learningRate: 0.02 }) }),
  );
  await assertNoLeak('joint-adam', (theta0) =>
    new JointTraining({ model: mlp([1, 64, 64, 1], { activation: 'tanh' }), loss, layout: sine }, theta0, { stepsPerIteration: 2, batchSize: 10, optimizer: adam({ learningRate: 0.001 }) }),
  );
});
