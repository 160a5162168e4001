/**
 * Layer-wise rates (src/nn/param-scales.ts): the `name=scale` syntax and its matching rules;
 * optimizers with `rateScale` equal to the same optimizer at the scaled rate on those parameters
 * (fused and unfused updates, and rebuilt from their config as a worker does); Reptile's
 * `metaStepScale` against a hand computation, on the tfjs and the host (fused-kernel) paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { Rng } from '../src/core/rng.js';
import { adam, disposeOptimizerState, optimizerFromConfig, sgd, type Optimizer } from '../src/nn/optimizers.js';
import { checkParamScales, formatParamScales, parseParamScales, scaleFor } from '../src/nn/param-scales.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { selectInnerLoop } from '../src/algorithms/select-inner-loop.js';
import type { ExampleLayoutSource } from '../src/tasks/task.js';

await useBackend('wasm');

test('param scales: parse, canonical text, longest matching name up to a /, unknown names refused', () => {
  const s = parseParamScales(' embedding=0.1, embedding/importance=2 ,dense0=0 ');
  assert.deepEqual(s, { embedding: 0.1, 'embedding/importance': 2, dense0: 0 });
  assert.equal(formatParamScales(s), 'dense0=0,embedding=0.1,embedding/importance=2');
  assert.deepEqual(parseParamScales(''), {});
  assert.equal(scaleFor(s, 'embedding/kernel'), 0.1);
  assert.equal(scaleFor(s, 'embedding/importance'), 2, 'the longer name wins');
  assert.equal(scaleFor(s, 'dense0/bias'), 0);
  assert.equal(scaleFor(s, 'dense01/bias'), 1, 'a prefix matches only up to a /');
  assert.equal(scaleFor(s, 'dense1/kernel'), 1);
  for (const bad of ['embedding', 'embedding=', '=1', 'a=-1', 'a=x', 'a=1=2', 'a=1,a=2']) {
    assert.throws(() => parseParamScales(bad), RangeError, bad);
  }
  checkParamScales(s, ['embedding/kernel', 'embedding/importance', 'dense0/kernel']);
  assert.throws(() => checkParamScales({ embeding: 1 }, ['embedding/kernel']), /'embeding' names no parameter.*embedding\/kernel/);
});

const P0 = { kernel: [1, -2, 0.5, 3], bias: [0.25, -0.75] };
const GRADS = [
  { kernel: [0.1, -0.2, 0.05, 1], bias: [-0.5, 0.3] },
  { kernel: [0.3, 0.4, -0.05, 0.5], bias: [0.2, 0.3] },
  { kernel: [-0.2, 0.1, 0.02, -1.5], bias: [0.1, -0.6] },
];
const params = (h: Record<string, number[]>): ParamSet => ({ kernel: tf.tensor(h.kernel, [2, 2]), bias: tf.tensor(h.bias, [2]) });

/** Three steps; returns each parameter's final values. */
function run(opt: Optimizer): Record<string, number[]> {
  let p = params(P0);
  let state = opt.init(p);
  for (const g of GRADS) {
    const grads = params(g);
    const next = opt.step(p, grads, state);
    disposeParams(grads);
    disposeParams(p);
    disposeOptimizerState(state);
    p = next.params;
    state = next.state;
  }
  const out = { kernel: Array.from(p.kernel.dataSync()), bias: Array.from(p.bias.dataSync()) };
  disposeParams(p);
  disposeOptimizerState(state);
  return out;
}

test('rateScale: each parameter moves as the optimizer at its scaled rate would move it (Adam, SGD with momentum; fused and not)', () => {
  const makers: Array<[string, (lr: number, o: { fused: boolean; rateScale?: Record<string, number> }) => Optimizer]> = [
    ['adam', (lr, o) => adam({ learningRate: lr, beta1: 0.5, ...o })],
    ['sgd', (lr, o) => sgd({ learningRate: lr, momentum: 0.9, ...o })],
  ];
  const before = tf.memory().numTensors;
  for (const [name, make] of makers) {
    for (const fused of [true, false]) {
      const scaled = run(make(0.1, { fused, rateScale: { bias: 0.25, kernel: 3 } }));
      const bias = run(make(0.025, { fused })).bias;
      const kernel = run(make(0.3, { fused })).kernel;
      scaled.kernel.forEach((v, i) => assert.ok(Math.abs(v - kernel[i]) < 1e-6, `${name} fused ${fused} kernel[${i}] ${v} vs ${kernel[i]}`));
      scaled.bias.forEach((v, i) => assert.ok(Math.abs(v - bias[i]) < 1e-6, `${name} fused ${fused} bias[${i}] ${v} vs ${bias[i]}`));
      // A scale of 0 freezes the parameter.
      assert.deepEqual(run(make(0.1, { fused, rateScale: { bias: 0 } })).bias, P0.bias.map(Math.fround));
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

test('rateScale: recorded in the config, rebuilt by optimizerFromConfig (a worker), absent when there is none', () => {
  const opt = adam({ learningRate: 0.1, beta1: 0, rateScale: { kernel: 0.5 } });
  assert.equal(opt.config.rateScale, 'kernel=0.5');
  assert.deepEqual(run(optimizerFromConfig(opt.name, opt.config)), run(opt));
  assert.equal('rateScale' in adam({ learningRate: 0.1, rateScale: {} }).config, false);
  assert.equal('rateScale' in sgd({ learningRate: 0.1 }).config, false);
  const s = sgd({ learningRate: 0.1, rateScale: { bias: 2 } });
  assert.deepEqual(run(optimizerFromConfig(s.name, s.config)), run(s));
});

// The model y = w x + b; one task x = 2, y = 3 from (w, b) = (0.5, 0.25): loss (w x + b - y)^2,
// r = -1.75, dL/dw = -7, dL/db = -3.5. One SGD step at lr 0.1: phi = (1.2, 0.6).
const layout: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
const linear = mlp([1, 1]);
const task = { count: 1, x: Float32Array.of(2), y: Float32Array.of(3) };

async function reptileStep(innerOptimizer: Optimizer, metaStepScale: Record<string, number>): Promise<[number, number]> {
  const theta0 = { 'dense0/kernel': tf.tensor2d([[0.5]]), 'dense0/bias': tf.tensor1d([0.25]) };
  const learner = new Reptile({ model: linear, loss: meanSquaredError(), layout }, theta0, { innerIters: 1, innerBatch: 1, metaBatch: 1, innerOptimizer, metaStepScale });
  await learner.metaStep([task], 0.5, Rng.fromSeed(1));
  const host = await paramsToHost(learner.params);
  learner.dispose();
  disposeParams(theta0);
  return [host.values[0][0], host.values[1][0]];
}

test('Reptile metaStepScale: theta + eps scale (phi - theta) per parameter, by hand (tfjs and fused host paths)', async () => {
  const close = (a: number, e: number, what: string) => assert.ok(Math.abs(a - e) < 1e-6, `${what}: ${a} vs ${e}`);
  // The plain SGD inner loop runs in the fused MLP kernel, with the meta-update on the host.
  assert.equal(selectInnerLoop({ model: linear, loss: meanSquaredError(), layout }, sgd({ learningRate: 0.1 })).name, 'fused-mlp', 'the host path is tested');
  // w: 0.5 + 0.5 (1.2 - 0.5) = 0.85; b with scale 2: 0.25 + 0.5 * 2 (0.6 - 0.25) = 0.6.
  const [w, b] = await reptileStep(sgd({ learningRate: 0.1 }), { 'dense0/bias': 2 });
  close(w, 0.85, 'w (host)');
  close(b, 0.6, 'b (host)');
  // A rate scale keeps the tfjs loop (the kernels take one rate): bias at rate 0.05 gives
  // phi_b = 0.25 + 0.05 * 3.5 = 0.425, then 0.25 + 0.5 * 2 (0.425 - 0.25) = 0.425.
  const inner = sgd({ learningRate: 0.1, rateScale: { 'dense0/bias': 0.5 } });
  assert.notEqual(selectInnerLoop({ model: linear, loss: meanSquaredError(), layout }, inner).name, 'fused-mlp');
  const [w2, b2] = await reptileStep(inner, { 'dense0/bias': 2 });
  close(w2, 0.85, 'w (tfjs)');
  close(b2, 0.425, 'b (tfjs)');
  // Scale 1 everywhere is the plain interpolation, bit for bit.
  assert.deepEqual(await reptileStep(sgd({ learningRate: 0.1 }), { dense0: 1 }), await reptileStep(sgd({ learningRate: 0.1 }), {}));
});

test('Reptile metaStepScale: refused with a meta-optimizer or for a name the model does not have', () => {
  const theta0 = { 'dense0/kernel': tf.tensor2d([[0.5]]), 'dense0/bias': tf.tensor1d([0.25]) };
  const base = { innerIters: 1, innerBatch: 1, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.1 }) };
  const setup = { model: linear, loss: meanSquaredError(), layout };
  assert.throws(() => new Reptile(setup, theta0, { ...base, metaStepScale: { dense0: 2 }, metaOptimizer: adam({ learningRate: 1 }) }), /interpolation/);
  assert.throws(() => new Reptile(setup, theta0, { ...base, metaStepScale: { dense1: 2 } }), /'dense1' names no parameter/);
  disposeParams(theta0);
});
