/**
 * Losses (src/nn/losses.ts): values on hand-computed inputs, stability for large logits, first
 * derivatives against central finite differences, and second derivatives (Hessian-vector
 * products through tf.grad of tf.grad) against finite differences of the gradient and against
 * float64 formulas computed here on the host. Second-order MAML differentiates through these
 * losses, so a wrong second derivative would silently give a wrong meta-gradient.
 *
 * Finite differences are float32-aware: the losses are evaluated in float32 (relative rounding
 * ~6e-8), so a central difference with step h has rounding error ~1e-7 * |f| / h and truncation
 * error ~h^2 |f'''| / 6; h = 1e-2 keeps both near 1e-5 for these smooth, O(1) functions, and the
 * tolerances below (1e-3 absolute + 1e-2 relative) are ~100x that, while a wrong second derivative
 * is off by O(1) (different sign, in the cases seen).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import {
  binaryCrossEntropy,
  crossEntropy,
  huber,
  l1,
  lossByName,
  meanSquaredError,
  type LossFn,
  type Reduction,
} from '../src/nn/losses.js';

await useBackend('wasm');

const REDUCTIONS: Reduction[] = ['mean', 'sum'];

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Value of a scalar expression; tensors created inline in `fn` are disposed with it. */
function scalarOf(fn: () => tf.Tensor): number {
  const t = tf.tidy(fn);
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

function assertAllClose(actual: readonly number[], expected: readonly number[], abs: number, rel: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const scale = Math.max(...expected.map(Math.abs), 0);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.ok(Number.isFinite(a), `${label}[${i}] = ${a} is not finite`);
    assert.ok(Math.abs(a - e) <= abs + rel * scale, `${label}[${i}] = ${a}, expected ${e} (all: ${actual.map((x) => x.toFixed(5))} vs ${expected.map((x) => x.toFixed(5))})`);
  });
}

// ---------------------------------------------------------------- float64 references on the host

function softmax(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Per-example softmax cross-entropy: logsumexp(x) - x[label]. */
function ceHost(logits: number[][], labels: number[]): number[] {
  return logits.map((row, b) => {
    const m = Math.max(...row);
    return m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) - row[labels[b]];
  });
}

function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Weight of each element in the reduced loss: 1/size for 'mean', 1/(elements per example) for 'sum'. */
function elementWeight(shape: readonly number[], reduction: Reduction): number {
  const size = shape.reduce((a, b) => a * b, 1);
  return reduction === 'mean' ? 1 / size : 1 / (size / shape[0]);
}

// ---------------------------------------------------------------- differentiation helpers

type Fn = (x: tf.Tensor) => tf.Scalar;

function gradient(f: Fn, x: tf.Tensor): number[] {
  const g = tf.grad(f)(x);
  const out = values(g);
  g.dispose();
  return out;
}

/** Central finite differences of f, one entry at a time (differences taken in float64). */
function fdGradient(f: Fn, x: tf.Tensor, h: number): number[] {
  const base = values(x);
  return base.map((_, i) => {
    const shifted = (delta: number) => {
      const v = base.slice();
      v[i] += delta;
      return scalarOf(() => tf.tidy(() => f(tf.tensor(v, x.shape))));
    };
    return (shifted(h) - shifted(-h)) / (2 * h);
  });
}

/** Hessian-vector product through tf.grad of tf.grad: d/dx (grad f(x) . v). */
function hvp(f: Fn, x: tf.Tensor, v: tf.Tensor): number[] {
  const hv = tf.tidy(() => tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(y), v)) as tf.Scalar)(x));
  const out = values(hv);
  hv.dispose();
  return out;
}

/** Central finite difference of the gradient along v: (grad f(x + h v) - grad f(x - h v)) / 2h. */
function fdHvp(f: Fn, x: tf.Tensor, v: tf.Tensor, h: number): number[] {
  const plus = tf.tidy(() => tf.add(x, tf.mul(v, h)));
  const minus = tf.tidy(() => tf.sub(x, tf.mul(v, h)));
  const gp = gradient(f, plus);
  const gm = gradient(f, minus);
  tf.dispose([plus, minus]);
  return gp.map((p, i) => (p - gm[i]) / (2 * h));
}

/** HVP check as a boolean (for the controls, which may also throw). */
function hvpMatches(f: Fn, x: tf.Tensor, v: tf.Tensor, expected: readonly number[]): { ok: boolean; detail: string } {
  let got: number[];
  try {
    got = hvp(f, x, v);
  } catch (e) {
    return { ok: false, detail: `throws: ${(e as Error).message}` };
  }
  const scale = Math.max(...expected.map(Math.abs));
  const ok = got.every((g, i) => Number.isFinite(g) && Math.abs(g - expected[i]) <= 1e-3 + 1e-2 * scale);
  return { ok, detail: `got ${got.map((g) => g.toFixed(4))}, expected ${expected.map((e) => e.toFixed(4))}` };
}

// ---------------------------------------------------------------- inputs

const LOGITS = [
  [0.5, -1, 2, 0.1],
  [1, 0.3, -0.7, -2],
  [-0.2, 0.4, 0.9, 1.5],
];
const LABELS = [2, 0, 3];
const DIRECTION = [
  [1, -0.5, 0.25, 0.8],
  [0.3, 1, -1, -0.4],
  [-0.6, 0.2, 0.7, 1.1],
];

// ---------------------------------------------------------------- values

test('mse: hand values, both reductions, rank 1 and 2', () => {
  const pred = tf.tensor2d([[1, 2], [3, 4]]);
  const target = tf.tensor2d([[1, 0], [0, 4]]);
  // squared errors 0 4 / 9 0: mean 13/4; 'sum' adds per-example means: 4/2 + 9/2.
  assert.equal(scalarOf(() => meanSquaredError('mean')(pred, target)), 3.25);
  assert.equal(scalarOf(() => meanSquaredError('sum')(pred, target)), 6.5);
  assert.equal(scalarOf(() => meanSquaredError()(pred, target)), 3.25, "default reduction is 'mean'");
  const p1 = tf.tensor1d([1, 2, 3]);
  const t1 = tf.tensor1d([0, 2, 5]);
  assert.ok(Math.abs(scalarOf(() => meanSquaredError('mean')(p1, t1)) - 5 / 3) < 1e-6);
  assert.equal(scalarOf(() => meanSquaredError('sum')(p1, t1)), 5);
  // A target of the same size but another shape ([n] vs [n, 1]) is reshaped, not broadcast.
  const pCol = tf.tensor2d([[1], [2], [3]]);
  assert.ok(Math.abs(scalarOf(() => meanSquaredError('mean')(pCol, t1)) - 5 / 3) < 1e-6);
  assert.equal(scalarOf(() => meanSquaredError('sum')(pCol, t1)), 5);
  assert.throws(() => meanSquaredError()(pred, t1), /mse.*differ/);
  tf.dispose([pred, target, p1, t1, pCol]);
});

test('l1: hand values, both reductions', () => {
  const pred = tf.tensor2d([[1, 2], [3, 4]]);
  const target = tf.tensor2d([[1, 0], [0, 4]]);
  assert.equal(scalarOf(() => l1('mean')(pred, target)), 1.25);
  assert.equal(scalarOf(() => l1('sum')(pred, target)), 2.5);
  const p1 = tf.tensor1d([1, -2, 3]);
  const t1 = tf.tensor1d([0, 2, 5]);
  assert.ok(Math.abs(scalarOf(() => l1('mean')(p1, t1)) - 7 / 3) < 1e-6);
  assert.equal(scalarOf(() => l1('sum')(p1, t1)), 7);
  assert.throws(() => l1()(p1, target), /l1.*differ/);
  tf.dispose([pred, target, p1, t1]);
});

test('huber: quadratic within delta, linear beyond, continuous at delta', () => {
  const pred = tf.tensor1d([0.5, -2, 3, -1.5, 0]);
  const target = tf.zeros([5]);
  // delta 1.5: 0.125, 1.5*(2-0.75) = 1.875, 1.5*(3-0.75) = 3.375, 0.5*1.5^2 = 1.125, 0: sum 6.5.
  assert.ok(Math.abs(scalarOf(() => huber(1.5, 'mean')(pred, target)) - 1.3) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => huber(1.5, 'sum')(pred, target)) - 6.5) < 1e-6);
  // delta 1 (the default): 0.125, 1.5, 2.5, 1.0, 0: sum 5.125.
  assert.ok(Math.abs(scalarOf(() => huber()(pred, target)) - 5.125 / 5) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => huber(1, 'sum')(pred, target)) - 5.125) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => lossByName('huber', 'sum')(pred, target)) - 5.125) < 1e-6);
  // Rank 2 with 'sum': per-example means. Rows [0.5, 3] and [-2, 0] against 0, delta 1:
  // (0.125 + 2.5)/2 + (1.5 + 0)/2 = 2.0625.
  const p2 = tf.tensor2d([[0.5, 3], [-2, 0]]);
  assert.ok(Math.abs(scalarOf(() => huber(1, 'sum')(p2, tf.zeros([2, 2]))) - 2.0625) < 1e-6);
  // Continuity at |error| = delta from both sides.
  const d = 0.7;
  const near = (e: number) => scalarOf(() => huber(d, 'sum')(tf.tensor1d([e]), tf.tensor1d([0])));
  assert.ok(Math.abs(near(d - 1e-3) - 0.5 * (d - 1e-3) ** 2) < 1e-7);
  assert.ok(Math.abs(near(d + 1e-3) - d * (d + 1e-3 - 0.5 * d)) < 1e-7);
  // Slope d on both sides: the two values 2e-4 apart differ by ~2e-4 * d (no jump).
  assert.ok(Math.abs(near(d + 1e-4) - near(d - 1e-4) - 2e-4 * d) < 2e-6);
  // Huge errors stay finite (linear branch, no 0 * Infinity).
  for (const huge of [1e30, -1e30]) assert.ok(Math.abs(near(huge) / (d * 1e30) - 1) < 1e-6, `huber(${huge}) = ${near(huge)}`);
  assert.ok(Math.abs(near(d) - 0.5 * d * d) < 1e-7);
  for (const bad of [0, -1, Number.NaN]) assert.throws(() => huber(bad), RangeError);
  tf.dispose([pred, target, p2]);
});

test('cross-entropy: hand values with integer labels, both reductions', () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
  const labels = tf.tensor1d([2, 1], 'int32');
  // log(1 + e^-1 + e^-2) = 0.407606, log 3 = 1.098612.
  const perExample = [Math.log(1 + Math.exp(-1) + Math.exp(-2)), Math.log(3)];
  assert.ok(Math.abs(perExample[0] - 0.407606) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => crossEntropy('mean')(logits, labels)) - (perExample[0] + perExample[1]) / 2) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => crossEntropy('sum')(logits, labels)) - (perExample[0] + perExample[1])) < 1e-6);
  // Float labels and [batch, 1] labels are accepted.
  assert.ok(Math.abs(scalarOf(() => crossEntropy('sum')(logits, tf.tensor2d([[2], [1]]))) - 1.506218) < 1e-5);
  // Against the float64 reference on a bigger input.
  const big = tf.tensor2d(LOGITS);
  const bigLabels = tf.tensor1d(LABELS, 'int32');
  const ref = ceHost(LOGITS, LABELS);
  assert.ok(Math.abs(scalarOf(() => crossEntropy('mean')(big, bigLabels)) - ref.reduce((a, b) => a + b) / 3) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => lossByName('cross-entropy', 'sum')(big, bigLabels)) - ref.reduce((a, b) => a + b)) < 1e-5);
  assert.throws(() => crossEntropy()(logits, tf.tensor1d([0, 1, 2])), /cross-entropy/);
  assert.throws(() => crossEntropy()(tf.tensor1d([1, 2]), tf.tensor1d([0])), /cross-entropy/);
  tf.dispose([logits, labels, big, bigLabels]);
});

test('binary cross-entropy: hand values, soft targets, both reductions', () => {
  const x = [2, -1, 0, 3];
  const y = [1, 0, 0.5, 0.25];
  const per = x.map((xi, i) => softplus(xi) - xi * y[i]);
  // softplus(2) - 2 = 0.126928, softplus(-1) = 0.313262, log 2, softplus(3) - 0.75 = 2.298587.
  assert.ok(Math.abs(per[0] - 0.126928) < 1e-6 && Math.abs(per[3] - 2.298587) < 1e-6);
  const logits = tf.tensor1d(x);
  const targets = tf.tensor1d(y);
  assert.ok(Math.abs(scalarOf(() => binaryCrossEntropy('mean')(logits, targets)) - per.reduce((a, b) => a + b) / 4) < 1e-6);
  assert.ok(Math.abs(scalarOf(() => binaryCrossEntropy('sum')(logits, targets)) - per.reduce((a, b) => a + b)) < 1e-5);
  // Rank 2 'sum': examples [2, -1] and [0, 3] -> mean per row, then sum.
  const l2 = tf.tensor2d([[2, -1], [0, 3]]);
  const t2 = tf.tensor2d([[1, 0], [0.5, 0.25]]);
  assert.ok(Math.abs(scalarOf(() => binaryCrossEntropy('sum')(l2, t2)) - ((per[0] + per[1]) / 2 + (per[2] + per[3]) / 2)) < 1e-5);
  // Integer (int32) targets are cast.
  const intTargets = tf.tensor1d([1, 0, 0, 1], 'int32');
  const perInt = x.map((xi, i) => softplus(xi) - xi * [1, 0, 0, 1][i]);
  assert.ok(Math.abs(scalarOf(() => lossByName('binary-cross-entropy', 'sum')(logits, intTargets)) - perInt.reduce((a, b) => a + b)) < 1e-5);
  assert.throws(() => binaryCrossEntropy()(logits, tf.tensor1d([1, 0])), /binary-cross-entropy/);
  tf.dispose([logits, targets, l2, t2, intTargets]);
});

test('large logits (+-1000): finite, correct values and gradients', () => {
  const rows = [
    [1000, -1000, 0],
    [-1000, 1000, 0],
    [1000, 1000, -1000],
  ];
  const labels = [0, 0, 1];
  const logits = tf.tensor2d(rows);
  const lab = tf.tensor1d(labels, 'int32');
  // Per example: 0, 2000, log 2.
  assertAllClose([scalarOf(() => crossEntropy('sum')(logits, lab))], [2000 + Math.LN2], 0, 1e-6, 'CE sum');
  assertAllClose([scalarOf(() => crossEntropy('mean')(logits, lab))], [(2000 + Math.LN2) / 3], 0, 1e-6, 'CE mean');
  const ceGrad = gradient((z) => crossEntropy('sum')(z, lab), logits);
  const expectedCe = rows.flatMap((row, b) => softmax(row).map((p, k) => p - (k === labels[b] ? 1 : 0)));
  assertAllClose(ceGrad, expectedCe, 1e-6, 0, 'CE gradient at large logits');

  const x = [1000, -1000, 1000, -1000, 50];
  const y = [1, 0, 0, 1, 0.5];
  const bl = tf.tensor1d(x);
  const bt = tf.tensor1d(y);
  // Per element: 0, 0, 1000, 1000, softplus(50) - 25 = 25.
  assertAllClose([scalarOf(() => binaryCrossEntropy('sum')(bl, bt))], [2025], 0, 1e-6, 'BCE sum');
  const bceGrad = gradient((z) => binaryCrossEntropy('sum')(z, bt), bl);
  assertAllClose(bceGrad, x.map((xi, i) => sigmoid(xi) - y[i]), 1e-6, 0, 'BCE gradient at large logits');
  tf.dispose([logits, lab, bl, bt]);
});

// ---------------------------------------------------------------- first derivatives

interface Case {
  label: string;
  loss: LossFn;
  x: tf.Tensor;
  target: tf.Tensor;
  /** Analytic gradient in float64. */
  grad: number[];
}

function firstOrderCases(reduction: Reduction): Case[] {
  const cases: Case[] = [];
  const flatLogits = LOGITS.flat();
  {
    // Per-example softmax minus one-hot, weighted 1/batch for 'mean'.
    const exampleWeight = reduction === 'mean' ? 1 / 3 : 1;
    const grad = LOGITS.flatMap((row, b) => softmax(row).map((p, k) => exampleWeight * (p - (k === LABELS[b] ? 1 : 0))));
    cases.push({ label: `cross-entropy ${reduction}`, loss: crossEntropy(reduction), x: tf.tensor2d(LOGITS), target: tf.tensor1d(LABELS, 'int32'), grad });
  }
  const targets = [
    [1, 0, 0.5, 0.2],
    [0, 1, 1, 0.9],
    [0.3, 0, 1, 0],
  ].flat();
  const w = elementWeight([3, 4], reduction);
  cases.push({
    label: `binary-cross-entropy ${reduction}`,
    loss: binaryCrossEntropy(reduction),
    x: tf.tensor2d(LOGITS),
    target: tf.tensor2d(targets, [3, 4]),
    grad: flatLogits.map((xi, i) => w * (sigmoid(xi) - targets[i])),
  });
  const regTargets = [0.2, 0.4, -0.3, 1.2, 0.1, -0.5, 0.6, -1.1, 0.5, -0.4, 0.3, 0.2];
  cases.push({
    label: `mse ${reduction}`,
    loss: meanSquaredError(reduction),
    x: tf.tensor2d(LOGITS),
    target: tf.tensor2d(regTargets, [3, 4]),
    grad: flatLogits.map((xi, i) => w * 2 * (xi - regTargets[i])),
  });
  // Errors: 0.3 -1.4 2.3 -1.1 / 0.9 0.8 -1.3 -0.9 / -0.7 0.8 0.6 1.3; with delta 1 every |error| is
  // at least 0.1 away from the kink at 1, far more than the finite-difference step.
  cases.push({
    label: `huber(1) ${reduction}`,
    loss: huber(1, reduction),
    x: tf.tensor2d(LOGITS),
    target: tf.tensor2d(regTargets, [3, 4]),
    grad: flatLogits.map((xi, i) => {
      const e = xi - regTargets[i];
      return w * (Math.abs(e) <= 1 ? e : Math.sign(e));
    }),
  });
  cases.push({
    label: `l1 ${reduction}`,
    loss: l1(reduction),
    x: tf.tensor2d(LOGITS),
    target: tf.tensor2d(regTargets, [3, 4]),
    grad: flatLogits.map((xi, i) => w * Math.sign(xi - regTargets[i])),
  });
  return cases;
}

test('first derivatives of every loss match central finite differences and the analytic gradient', () => {
  for (const reduction of REDUCTIONS) {
    for (const c of firstOrderCases(reduction)) {
      const f: Fn = (z) => c.loss(z, c.target);
      const g = gradient(f, c.x);
      assertAllClose(g, c.grad, 1e-6, 1e-5, `${c.label}: autodiff vs float64 formula`);
      assertAllClose(g, fdGradient(f, c.x, 1e-2), 1e-4, 1e-3, `${c.label}: autodiff vs finite differences`);
      tf.dispose([c.x, c.target]);
    }
  }
});

// ---------------------------------------------------------------- second derivatives

test('Hessian-vector products (grad of grad) match finite differences of the gradient and float64 formulas', () => {
  const v = tf.tensor2d(DIRECTION);
  const vFlat = DIRECTION.flat();
  for (const reduction of REDUCTIONS) {
    const w = elementWeight([3, 4], reduction);
    const exampleWeight = reduction === 'mean' ? 1 / 3 : 1;
    const cases: Array<{ label: string; f: Fn; x: tf.Tensor; expected: number[]; dispose: tf.Tensor[] }> = [];
    {
      // Softmax cross-entropy: H = diag(p) - p p^T per example.
      const labels = tf.tensor1d(LABELS, 'int32');
      const expected = LOGITS.flatMap((row, b) => {
        const p = softmax(row);
        const pv = p.reduce((s, pk, k) => s + pk * DIRECTION[b][k], 0);
        return p.map((pk, k) => exampleWeight * (pk * DIRECTION[b][k] - pk * pv));
      });
      const loss = crossEntropy(reduction);
      cases.push({ label: `cross-entropy ${reduction}`, f: (z) => loss(z, labels), x: tf.tensor2d(LOGITS), expected, dispose: [labels] });
    }
    {
      // Sigmoid cross-entropy: H = diag(s (1 - s)), whatever the targets.
      const targets = tf.tensor2d([[1, 0, 0.5, 0.2], [0, 1, 1, 0.9], [0.3, 0, 1, 0]]);
      const expected = LOGITS.flat().map((x, i) => w * sigmoid(x) * (1 - sigmoid(x)) * vFlat[i]);
      const loss = binaryCrossEntropy(reduction);
      cases.push({ label: `binary-cross-entropy ${reduction}`, f: (z) => loss(z, targets), x: tf.tensor2d(LOGITS), expected, dispose: [targets] });
    }
    {
      const targets = tf.tensor2d([0.2, 0.4, -0.3, 1.2, 0.1, -0.5, 0.6, -1.1, 0.5, -0.4, 0.3, 0.2], [3, 4]);
      const loss = meanSquaredError(reduction);
      cases.push({ label: `mse ${reduction}`, f: (z) => loss(z, targets), x: tf.tensor2d(LOGITS), expected: vFlat.map((vi) => 2 * w * vi), dispose: [] });
      // Huber: 1 inside |error| <= delta, 0 beyond. With delta 1 the errors (see above) fall on both
      // sides, each at least 0.1 from the kink; the FD step moves them by at most 1e-2 * 1.1.
      const targetsHost = [0.2, 0.4, -0.3, 1.2, 0.1, -0.5, 0.6, -1.1, 0.5, -0.4, 0.3, 0.2];
      const expected = LOGITS.flat().map((x, i) => (Math.abs(x - targetsHost[i]) <= 1 ? w * vFlat[i] : 0));
      assert.ok(expected.some((e) => e === 0) && expected.some((e) => e !== 0), 'huber case covers both regions');
      const hl = huber(1, reduction);
      cases.push({ label: `huber(1) ${reduction}`, f: (z) => hl(z, targets), x: tf.tensor2d(LOGITS), expected, dispose: [targets] });
    }
    for (const c of cases) {
      const got = hvp(c.f, c.x, v);
      assertAllClose(got, c.expected, 1e-5, 1e-4, `${c.label}: HVP vs float64 formula`);
      assertAllClose(got, fdHvp(c.f, c.x, v, 1e-2), 1e-3, 1e-2, `${c.label}: HVP vs finite differences of the gradient`);
      tf.dispose([c.x, ...c.dispose]);
    }
  }
  v.dispose();
});

test('second derivatives through the losses leak no tensors', () => {
  const x = tf.tensor2d(LOGITS);
  const v = tf.tensor2d(DIRECTION);
  const labels = tf.tensor1d(LABELS, 'int32');
  const targets = tf.onesLike(x);
  const before = tf.memory().numTensors;
  hvp((z) => crossEntropy('sum')(z, labels), x, v);
  hvp((z) => binaryCrossEntropy('mean')(z, targets), x, v);
  hvp((z) => huber(0.5, 'mean')(z, targets), x, v);
  const values = [crossEntropy()(x, labels), meanSquaredError()(x, targets), l1('sum')(x, targets)];
  assert.equal(tf.memory().numTensors, before + values.length);
  tf.dispose(values);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, v, labels, targets]);
});

/*
 * Control: the same check fails for tfjs's own building blocks, so it has teeth.
 * Measured with @tensorflow/tfjs 4.22 (wasm and cpu backends alike):
 * - tf.losses.softmaxCrossEntropy and tf.logSoftmax are customGrad ops whose gradient is computed
 *   from values saved in the (untaped) forward pass: the gradient does not depend on the logits
 *   as far as the tape can tell, so grad-of-grad w.r.t. the logits throws "Cannot compute gradient
 *   of y=f(x) with respect to x", and w.r.t. the weights of a model before the loss it is
 *   silently wrong (the softmax curvature is missing).
 * - A cross-entropy written from tf.exp (log-sum-exp by hand) is silently WRONG (different sign
 *   here): tfjs's Exp gradient (like Tanh's and Sigmoid's) reuses the op's saved output, which the
 *   engine saves as a clone that the tape does not connect back to the input. This is the bug
 *   src/nn/ops.ts had before its own exp; the check below is what caught it.
 */
test('control: tfjs softmaxCrossEntropy / logSoftmax / tf.exp-based cross-entropy fail the second-order check ours passes', () => {
  const x = tf.tensor2d(LOGITS);
  const v = tf.tensor2d(DIRECTION);
  const labels = tf.tensor1d(LABELS, 'int32');
  const oneHot = tf.oneHot(labels, 4);
  const expected = LOGITS.flatMap((row, b) => {
    const p = softmax(row);
    const pv = p.reduce((s, pk, k) => s + pk * DIRECTION[b][k], 0);
    return p.map((pk, k) => (pk * DIRECTION[b][k] - pk * pv) / 3);
  });
  const ours: Fn = (z) => crossEntropy('mean')(z, labels);
  const candidates: Record<string, Fn> = {
    'tf.losses.softmaxCrossEntropy': (z) => tf.losses.softmaxCrossEntropy(oneHot, z) as tf.Scalar,
    'tf.logSoftmax': (z) => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(z)), -1))) as tf.Scalar,
    'log-sum-exp from tf.exp': (z) => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.sub(z, tf.log(tf.sum(tf.exp(z), -1, true)))), -1))) as tf.Scalar,
  };
  const mine = hvpMatches(ours, x, v, expected);
  assert.ok(mine.ok, `ours: ${mine.detail}`);
  for (const [name, f] of Object.entries(candidates)) {
    // Their values and first derivatives are right: only the second order is broken.
    assertAllClose([scalarOf(() => f(x))], [scalarOf(() => ours(x))], 1e-6, 1e-5, `${name} value`);
    assertAllClose(gradient(f, x), gradient(ours, x), 1e-6, 1e-5, `${name} gradient`);
    const theirs = hvpMatches(f, x, v, expected);
    assert.equal(theirs.ok, false, `${name} unexpectedly passed the second-order check: ${theirs.detail}`);
  }

  // The same through a two-layer linear model (logits = X A B), HVP w.r.t. (A, B): here tfjs's
  // softmaxCrossEntropy runs without throwing and returns a wrong answer.
  const X = tf.tensor2d([[0.5, -1, 0.3], [1.2, 0.4, -0.8], [-0.3, 0.9, 0.6]]);
  const A = tf.tensor2d([[0.2, -0.4], [0.7, 0.1], [-0.5, 0.3]]);
  const B = tf.tensor2d([[0.6, -0.2, 0.4, 0.1], [-0.3, 0.8, 0.2, -0.7]]);
  const vA = tf.tensor2d([[1, 0.5], [-0.5, 0.2], [0.3, -1]]);
  const vB = tf.tensor2d([[0.4, -0.3, 1, 0.2], [0.6, 0.1, -0.8, 0.5]]);
  const modelHvp = (lossOf: (logits: tf.Tensor) => tf.Scalar): number[] => {
    const out = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const [ga, gb] = tf.grads((a2: tf.Tensor, b2: tf.Tensor) => lossOf(tf.matMul(tf.matMul(X, a2 as tf.Tensor2D), b2 as tf.Tensor2D)))([a, b]);
      return tf.add(tf.sum(tf.mul(ga, vA)), tf.sum(tf.mul(gb, vB))) as tf.Scalar;
    })([A, B]);
    const flat = out.flatMap(values);
    tf.dispose(out);
    return flat;
  };
  const modelFd = (lossOf: (logits: tf.Tensor) => tf.Scalar, h: number): number[] => {
    const gradAt = (sign: number) => {
      const a = tf.tidy(() => tf.add(A, tf.mul(vA, sign * h)));
      const b = tf.tidy(() => tf.add(B, tf.mul(vB, sign * h)));
      const gs = tf.grads((a2: tf.Tensor, b2: tf.Tensor) => lossOf(tf.matMul(tf.matMul(X, a2 as tf.Tensor2D), b2 as tf.Tensor2D)))([a, b]);
      const flat = gs.flatMap(values);
      tf.dispose([a, b, ...gs]);
      return flat;
    };
    const plus = gradAt(1);
    const minus = gradAt(-1);
    return plus.map((p, i) => (p - minus[i]) / (2 * h));
  };
  const reference = modelFd((z) => crossEntropy('mean')(z, labels), 1e-2);
  assertAllClose(modelHvp((z) => crossEntropy('mean')(z, labels)), reference, 1e-3, 1e-2, 'ours through a linear model');
  let tfjsModel: number[] | undefined;
  try {
    tfjsModel = modelHvp((z) => tf.losses.softmaxCrossEntropy(oneHot, z) as tf.Scalar);
  } catch {
    tfjsModel = undefined; // also a failure of the check
  }
  if (tfjsModel) {
    const scale = Math.max(...reference.map(Math.abs));
    const worst = Math.max(...tfjsModel.map((g, i) => Math.abs(g - reference[i])));
    assert.ok(worst > 0.05 * scale, `tfjs softmaxCrossEntropy's model HVP unexpectedly matched (max error ${worst})`);
  }
  tf.dispose([x, v, labels, oneHot, X, A, B, vA, vB]);
});
