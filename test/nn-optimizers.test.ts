/**
 * Optimizers (src/nn/optimizers.ts) against float64 hand computations for a few steps on a tiny
 * parameter set: SGD with and without momentum, and Adam in TensorFlow 1's form (bias correction
 * folded into the step size, epsilon added to the uncorrected sqrt(v)), with beta1 = 0 (the
 * Reptile paper) and 0.9. Also the per-step learning-rate override, explicit state, purity
 * (inputs untouched, nothing leaked) and hyperparameter validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { adam, cloneOptimizerState, disposeOptimizerState, sgd, type Optimizer, type OptimizerState } from '../src/nn/optimizers.js';

await useBackend('wasm');

type Host = Record<string, number[]>;

const SHAPES: Record<string, number[]> = { kernel: [2, 2], bias: [2] };
const P0: Host = { kernel: [1, -2, 0.5, 3], bias: [0.25, -0.75] };
/** Gradients for three consecutive steps (different signs and magnitudes per entry). */
const GRADS: Host[] = [
  { kernel: [0.1, -0.2, 0.05, 1], bias: [-0.5, 0.3] },
  { kernel: [0.3, 0.4, -0.05, 0.5], bias: [0.2, 0.3] },
  { kernel: [-0.2, 0.1, 0.02, -1.5], bias: [0.1, -0.6] },
];

function toParams(host: Host): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(host)) out[name] = tf.tensor(host[name], SHAPES[name], 'float32');
  return out;
}

function toHost(params: ParamSet): Host {
  const out: Host = {};
  for (const name of Object.keys(params)) out[name] = Array.from(params[name].dataSync());
  return out;
}

function assertHostClose(actual: Host, expected: Host, tol: number, label: string): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected), `${label}: names`);
  for (const name of Object.keys(expected)) {
    expected[name].forEach((e, i) => {
      const a = actual[name][i];
      assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${label} ${name}[${i}] = ${a}, expected ${e}`);
    });
  }
}

function mapHost(h: Host, fn: (x: number, name: string, i: number) => number): Host {
  const out: Host = {};
  for (const name of Object.keys(h)) out[name] = h[name].map((x, i) => fn(x, name, i));
  return out;
}

/** Runs `steps` steps from P0 with GRADS, returning every parameter iterate and the final state. */
function run(opt: Optimizer, steps: number, rates: Array<number | undefined> = []): { iterates: Host[]; state: OptimizerState; params: ParamSet } {
  let params = toParams(P0);
  let state = opt.init(params);
  const iterates: Host[] = [];
  for (let t = 0; t < steps; t++) {
    const grads = toParams(GRADS[t]);
    const next = opt.step(params, grads, state, rates[t]);
    disposeParams(grads);
    disposeParams(params);
    disposeOptimizerState(state);
    params = next.params;
    state = next.state;
    iterates.push(toHost(params));
  }
  return { iterates, state, params };
}

// ---------------------------------------------------------------- float64 references

function sgdRef(lr: number, momentum: number, steps: number, rates: Array<number | undefined> = []): { iterates: Host[]; velocity: Host } {
  let p = P0;
  let v = mapHost(P0, () => 0);
  const iterates: Host[] = [];
  for (let t = 0; t < steps; t++) {
    const g = GRADS[t];
    const rate = rates[t] ?? lr;
    v = mapHost(v, (vi, n, i) => momentum * vi + g[n][i]);
    p = mapHost(p, (pi, n, i) => pi - rate * v[n][i]);
    iterates.push(p);
  }
  return { iterates, velocity: v };
}

function adamRef(lr: number, b1: number, b2: number, eps: number, steps: number, rates: Array<number | undefined> = []): { iterates: Host[]; m: Host; v: Host } {
  let p = P0;
  let m = mapHost(P0, () => 0);
  let v = mapHost(P0, () => 0);
  const iterates: Host[] = [];
  for (let t = 1; t <= steps; t++) {
    const g = GRADS[t - 1];
    m = mapHost(m, (mi, n, i) => b1 * mi + (1 - b1) * g[n][i]);
    v = mapHost(v, (vi, n, i) => b2 * vi + (1 - b2) * g[n][i] ** 2);
    const lrT = ((rates[t - 1] ?? lr) * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    p = mapHost(p, (pi, n, i) => pi - (lrT * m[n][i]) / (Math.sqrt(v[n][i]) + eps));
    iterates.push(p);
  }
  return { iterates, m, v };
}

// ---------------------------------------------------------------- tests

test('sgd without momentum: p <- p - lr g, by hand and for three steps', () => {
  const { iterates, state, params } = run(sgd({ learningRate: 0.1 }), 3);
  // Step 1 by hand: kernel 1 - 0.01 = 0.99, -2 + 0.02 = -1.98, 0.5 - 0.005 = 0.495, 3 - 0.1 = 2.9.
  assertHostClose(iterates[0], { kernel: [0.99, -1.98, 0.495, 2.9], bias: [0.3, -0.78] }, 1e-6, 'sgd step 1');
  sgdRef(0.1, 0, 3).iterates.forEach((e, t) => assertHostClose(iterates[t], e, 1e-6, `sgd step ${t + 1}`));
  assert.equal(state.step, 3);
  assert.deepEqual(state.slots, {});
  disposeParams(params);
});

test('sgd with momentum 0.9: v <- 0.9 v + g, p <- p - lr v', () => {
  const { iterates, state, params } = run(sgd({ learningRate: 0.1, momentum: 0.9 }), 3);
  // Step 2 by hand for kernel[0]: v1 = 0.1, p1 = 0.99; v2 = 0.09 + 0.3 = 0.39, p2 = 0.99 - 0.039 = 0.951.
  assert.ok(Math.abs(iterates[1].kernel[0] - 0.951) < 1e-6, `kernel[0] after 2 steps: ${iterates[1].kernel[0]}`);
  const ref = sgdRef(0.1, 0.9, 3);
  ref.iterates.forEach((e, t) => assertHostClose(iterates[t], e, 1e-6, `momentum step ${t + 1}`));
  // Without momentum the second step would differ: the velocity is really carried over.
  assert.ok(Math.abs(iterates[1].kernel[0] - sgdRef(0.1, 0, 2).iterates[1].kernel[0]) > 1e-3);
  assert.equal(state.step, 3);
  assert.deepEqual(Object.keys(state.slots), ['velocity']);
  assertHostClose(toHost(state.slots.velocity), ref.velocity, 1e-6, 'velocity slot');
  disposeOptimizerState(state);
  disposeParams(params);
});

test('adam (TF1 form), beta1 = 0 as in the Reptile paper', () => {
  const [lr, b1, b2, eps] = [0.01, 0, 0.999, 1e-8];
  const { iterates, state, params } = run(adam({ learningRate: lr, beta1: b1 }), 3);
  // Step 1 by hand: m = g, v = 0.001 g^2, lr_1 = 0.01 sqrt(0.001): the update is lr * sign(g)
  // (up to epsilon), e.g. kernel[3] = 3 - 0.01 = 2.99, bias[0] = 0.25 + 0.01 = 0.26.
  assert.ok(Math.abs(iterates[0].kernel[3] - 2.99) < 1e-6);
  assert.ok(Math.abs(iterates[0].bias[0] - 0.26) < 1e-6);
  const ref = adamRef(lr, b1, b2, eps, 3);
  ref.iterates.forEach((e, t) => assertHostClose(iterates[t], e, 1e-6, `adam(beta1=0) step ${t + 1}`));
  assert.equal(state.step, 3);
  // beta1 = 0: m is the last gradient.
  assertHostClose(toHost(state.slots.m), GRADS[2], 1e-7, 'm slot');
  assertHostClose(toHost(state.slots.v), ref.v, 1e-6, 'v slot');
  disposeOptimizerState(state);
  disposeParams(params);
});

test('adam (TF1 form), beta1 = 0.9, and epsilon added to the uncorrected sqrt(v)', () => {
  const { iterates, state, params } = run(adam({ learningRate: 0.05 }), 3);
  const ref = adamRef(0.05, 0.9, 0.999, 1e-8, 3);
  ref.iterates.forEach((e, t) => assertHostClose(iterates[t], e, 1e-6, `adam(beta1=0.9) step ${t + 1}`));
  assertHostClose(toHost(state.slots.m), ref.m, 1e-6, 'm slot');
  assertHostClose(toHost(state.slots.v), ref.v, 1e-6, 'v slot');
  disposeOptimizerState(state);
  disposeParams(params);

  // A large epsilon separates TF1's form from the paper's (Kingma & Ba: eps added to sqrt(v_hat)).
  const eps = 0.01;
  const big = run(adam({ learningRate: 0.05, beta1: 0.9, beta2: 0.99, epsilon: eps }), 3);
  const tf1 = adamRef(0.05, 0.9, 0.99, eps, 3);
  tf1.iterates.forEach((e, t) => assertHostClose(big.iterates[t], e, 1e-6, `adam(eps=0.01) step ${t + 1}`));
  // Kingma & Ba's form on step 1, for contrast: p - lr * g / (|g| + eps) (m_hat = g, v_hat = g^2).
  const kingma = mapHost(P0, (p, n, i) => p - (0.05 * GRADS[0][n][i]) / (Math.abs(GRADS[0][n][i]) + eps));
  const differs = Object.keys(kingma).some((n) => kingma[n].some((k, i) => Math.abs(k - big.iterates[0][n][i]) > 1e-4));
  assert.ok(differs, 'the check cannot tell the two Adam forms apart');
  assert.equal(big.state.step, 3);
  disposeOptimizerState(big.state);
  disposeParams(big.params);
});

test('the learningRate argument overrides the configured rate for that step only', () => {
  const rates = [0.5, undefined, 0.02];
  const s = run(sgd({ learningRate: 0.1 }), 3, rates);
  sgdRef(0.1, 0, 3, rates).iterates.forEach((e, t) => assertHostClose(s.iterates[t], e, 1e-6, `sgd override step ${t + 1}`));
  disposeParams(s.params);
  const m = run(sgd({ learningRate: 0.1, momentum: 0.5 }), 3, rates);
  sgdRef(0.1, 0.5, 3, rates).iterates.forEach((e, t) => assertHostClose(m.iterates[t], e, 1e-6, `momentum override step ${t + 1}`));
  disposeOptimizerState(m.state);
  disposeParams(m.params);
  const a = run(adam({ learningRate: 0.01, beta1: 0.9 }), 3, rates);
  adamRef(0.01, 0.9, 0.999, 1e-8, 3, rates).iterates.forEach((e, t) => assertHostClose(a.iterates[t], e, 1e-6, `adam override step ${t + 1}`));
  disposeOptimizerState(a.state);
  disposeParams(a.params);
  // A rate of 0 leaves the parameters where they are (annealed schedules end there) but still
  // advances the state.
  const opt = adam({ learningRate: 0.01 });
  const p = toParams(P0);
  const g = toParams(GRADS[0]);
  const st = opt.init(p);
  const out = opt.step(p, g, st, 0);
  assertHostClose(toHost(out.params), mapHost(P0, Math.fround), 0, 'lr 0');
  assert.equal(out.state.step, 1);
  assert.equal(opt.config.learningRate, 0.01, 'config unchanged by an override');
  disposeParams(out.params);
  disposeOptimizerState(out.state);
  disposeOptimizerState(st);
  disposeParams(p);
  disposeParams(g);
});

test('state persists across steps: continuing it differs from restarting, cloning it replays', () => {
  const opt = adam({ learningRate: 0.01, beta1: 0.9 });
  const p0 = toParams(P0);
  const g0 = toParams(GRADS[0]);
  const g1 = toParams(GRADS[1]);
  const s0 = opt.init(p0);
  assert.equal(s0.step, 0);
  assertHostClose(toHost(s0.slots.m), mapHost(P0, () => 0), 0, 'fresh m');
  assertHostClose(toHost(s0.slots.v), mapHost(P0, () => 0), 0, 'fresh v');
  const first = opt.step(p0, g0, s0);
  const saved = cloneOptimizerState(first.state);
  const continued = opt.step(first.params, g1, first.state);
  const restarted = opt.step(first.params, g1, opt.init(first.params));
  assertHostClose(toHost(continued.params), adamRef(0.01, 0.9, 0.999, 1e-8, 2).iterates[1], 1e-6, 'continued');
  const diff = Math.abs(toHost(continued.params).kernel[0] - toHost(restarted.params).kernel[0]);
  assert.ok(diff > 1e-4, 'a fresh state gave the same step as the carried-over state');
  // The clone is independent: disposing the original keeps it, and stepping from it replays.
  disposeOptimizerState(first.state);
  const replay = opt.step(first.params, g1, saved);
  assertHostClose(toHost(replay.params), toHost(continued.params), 0, 'replay from cloned state');
  assert.equal(replay.state.step, 2);
  for (const s of [saved, continued.state, restarted.state, replay.state]) disposeOptimizerState(s);
  for (const p of [p0, g0, g1, first.params, continued.params, restarted.params, replay.params]) disposeParams(p);
  disposeOptimizerState(undefined);
});

test('step() leaves its inputs alive and unchanged and returns exactly new params and slots', () => {
  const cases: Array<[string, Optimizer, number]> = [
    ['sgd', sgd({ learningRate: 0.1 }), 0],
    ['momentum', sgd({ learningRate: 0.1, momentum: 0.9 }), 1],
    ['adam', adam({ learningRate: 0.1 }), 2],
  ];
  for (const [label, opt, slotCount] of cases) {
    const params = toParams(P0);
    const grads = toParams(GRADS[0]);
    let state = opt.init(params);
    const n = Object.keys(params).length;
    assert.equal(Object.keys(state.slots).length, slotCount, `${label}: slots`);
    // Two steps, so that slot tensors from a previous step are inputs too.
    const warm = opt.step(params, grads, state);
    disposeOptimizerState(state);
    state = warm.state;
    const stateBefore = Object.fromEntries(Object.entries(state.slots).map(([k, v]) => [k, toHost(v)]));
    const before = tf.memory().numTensors;
    const out = opt.step(warm.params, grads, state);
    assert.equal(tf.memory().numTensors, before + n * (1 + slotCount), `${label}: tensors created by step`);
    for (const t of [...Object.values(warm.params), ...Object.values(grads), ...Object.values(state.slots).flatMap((s) => Object.values(s))]) {
      assert.equal(t.isDisposed, false, `${label}: step disposed an input`);
    }
    assertHostClose(toHost(grads), mapHost(GRADS[0], Math.fround), 0, `${label}: grads changed`);
    for (const [k, v] of Object.entries(state.slots)) assertHostClose(toHost(v), stateBefore[k], 0, `${label}: slot ${k} changed`);
    assert.equal(state.step, 1, `${label}: input state mutated`);
    assert.equal(out.state.step, 2);
    for (const name of Object.keys(params)) assert.notEqual(out.params[name], warm.params[name]);
    disposeParams(out.params);
    disposeOptimizerState(out.state);
    assert.equal(tf.memory().numTensors, before, `${label}: leaked`);
    disposeOptimizerState(state);
    for (const p of [params, grads, warm.params]) disposeParams(p);
  }
});

test('a step is differentiable (second-order methods differentiate through the inner update)', () => {
  // d/dp of L(step(p, grad L(p))) for L(p) = sum(p^2): SGD gives p' = (1 - 2 lr) p and
  // dL(p')/dp = 2 (1 - 2 lr)^2 p.
  const lr = 0.1;
  const opt = sgd({ learningRate: lr, momentum: 0.5 });
  const p = tf.tensor1d([1, -2, 0.5]);
  const g = tf.grad((x: tf.Tensor) => {
    const grads = { w: tf.mul(x, 2) };
    const state = opt.init({ w: x });
    const out = opt.step({ w: x }, grads, state);
    return tf.sum(tf.square(out.params.w)) as tf.Scalar;
  })(p);
  assert.deepEqual(Array.from(g.dataSync()).map((x) => +x.toFixed(5)), [1, -2, 0.5].map((x) => +(2 * (1 - 2 * lr) ** 2 * x).toFixed(5)));
  tf.dispose([p, g]);
});

test('invalid hyperparameters throw a RangeError naming them', () => {
  const bad: Array<[string, () => unknown, RegExp]> = [
    ['sgd lr < 0', () => sgd({ learningRate: -0.1 }), /learning rate/],
    ['sgd lr NaN', () => sgd({ learningRate: Number.NaN }), /learning rate/],
    ['sgd lr Infinity', () => sgd({ learningRate: Infinity }), /learning rate/],
    ['momentum 1', () => sgd({ learningRate: 0.1, momentum: 1 }), /momentum/],
    ['momentum < 0', () => sgd({ learningRate: 0.1, momentum: -0.5 }), /momentum/],
    ['adam lr < 0', () => adam({ learningRate: -1 }), /learning rate/],
    ['adam beta1 1', () => adam({ learningRate: 0.1, beta1: 1 }), /beta1/],
    ['adam beta1 < 0', () => adam({ learningRate: 0.1, beta1: -0.1 }), /beta1/],
    ['adam beta2 1', () => adam({ learningRate: 0.1, beta2: 1 }), /beta2/],
    ['adam beta2 NaN', () => adam({ learningRate: 0.1, beta2: Number.NaN }), /beta2/],
    ['adam epsilon < 0', () => adam({ learningRate: 0.1, epsilon: -1e-8 }), /epsilon/],
  ];
  for (const [label, make, name] of bad) {
    assert.throws(make, (e: unknown) => e instanceof RangeError && name.test(e.message), label);
  }
  // Boundary values that are valid.
  assert.doesNotThrow(() => sgd({ learningRate: 0, momentum: 0 }));
  assert.doesNotThrow(() => adam({ learningRate: 0, beta1: 0, beta2: 0 }));
  assert.deepEqual(adam({ learningRate: 1e-3 }).config, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  assert.deepEqual(sgd({ learningRate: 0.2 }).config, { learningRate: 0.2, momentum: 0 });
});
