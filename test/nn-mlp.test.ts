/**
 * The MLP model (src/nn/mlp.ts) and its initialisers (src/nn/init.ts): parameter names and
 * shapes, the two initialisation schemes' distributions, determinism, the forward pass against a
 * host computation, gradients w.r.t. every parameter entry against central finite differences,
 * a second-order check through tanh, and tensor bookkeeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { Rng } from '../src/core/rng.js';
import { crossEntropy, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { mlp } from '../src/nn/mlp.js';
import type { Model } from '../src/nn/model.js';

await useBackend('wasm');

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

interface HostSet {
  names: string[];
  shapes: number[][];
  values: number[][];
}

function toHost(params: ParamSet): HostSet {
  const names = Object.keys(params);
  return { names, shapes: names.map((n) => params[n].shape.slice()), values: names.map((n) => values(params[n])) };
}

function fromHost(host: HostSet, replace?: { index: number; entry: number; value: number }): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  host.names.forEach((n, k) => {
    let v = host.values[k];
    if (replace && replace.index === k) {
      v = v.slice();
      v[replace.entry] = replace.value;
    }
    out[n] = tf.tensor(v, host.shapes[k], 'float32');
  });
  return out;
}

function stats(xs: readonly number[]): { mean: number; variance: number; maxAbs: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
  return { mean, variance, maxAbs: Math.max(...xs.map(Math.abs)) };
}

/** Host forward pass in float64 through the first sizes.length - 1 dense layers (activation between them). */
function hostForward(host: HostSet, sizes: number[], activation: 'relu' | 'tanh' | 'linear', x: number[][]): number[][] {
  let h = x;
  const layers = sizes.length - 1;
  for (let l = 0; l < layers; l++) {
    const kernel = host.values[host.names.indexOf(`dense${l}/kernel`)];
    const bias = host.values[host.names.indexOf(`dense${l}/bias`)];
    const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
    h = h.map((row) =>
      Array.from({ length: fanOut }, (_, j) => {
        let z = bias[j];
        for (let i = 0; i < fanIn; i++) z += row[i] * kernel[i * fanOut + j];
        if (l === layers - 1) return z;
        return activation === 'tanh' ? Math.tanh(z) : activation === 'relu' ? Math.max(0, z) : z;
      }),
    );
  }
  return h;
}

test('init: Keras-style names and shapes, in layer order', () => {
  const model = mlp([3, 5, 4, 2], { activation: 'tanh', init: 'pytorch' });
  assert.deepEqual(model.spec, { kind: 'mlp', sizes: [3, 5, 4, 2], activation: 'tanh', init: 'pytorch' });
  assert.deepEqual(model.inputShape, [3]);
  assert.equal(model.outputSize, 2);
  const params = model.init(Rng.fromSeed(0));
  assert.deepEqual(Object.keys(params), ['dense0/kernel', 'dense0/bias', 'dense1/kernel', 'dense1/bias', 'dense2/kernel', 'dense2/bias']);
  assert.deepEqual(
    Object.values(params).map((p) => p.shape),
    [[3, 5], [5], [5, 4], [4], [4, 2], [2]],
  );
  assert.ok(Object.values(params).every((p) => p.dtype === 'float32'));
  disposeParams(params);
  // Defaults: relu, TensorFlow's initialisation.
  assert.deepEqual(mlp([2, 1]).spec, { kind: 'mlp', sizes: [2, 1], activation: 'relu', init: 'tensorflow' });
  for (const bad of [[4], [], [3, 0, 2], [2.5, 1], [3, -1]]) assert.throws(() => mlp(bad), RangeError, `sizes ${bad}`);
});

test("'tensorflow' init: zero biases, Glorot-uniform kernels", () => {
  const sizes = [200, 300, 10];
  const params = mlp(sizes, { init: 'tensorflow' }).init(Rng.fromSeed(42));
  for (let l = 0; l < 2; l++) {
    const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    const kernel = values(params[`dense${l}/kernel`]);
    const s = stats(kernel);
    assert.ok(s.maxAbs <= bound, `dense${l} kernel max |w| ${s.maxAbs} > bound ${bound}`);
    // The whole range is used (not a narrower one): 0.99 bound is reached among >= 3000 draws.
    assert.ok(s.maxAbs > 0.99 * bound, `dense${l} kernel max |w| ${s.maxAbs} << bound ${bound}`);
    // Var U(-b, b) = b^2/3. Relative sd of the sample variance is sqrt(0.8 / n): 0.4% for 60000
    // draws, 1.6% for 3000; the tolerances are ~5 sd.
    const rel = Math.abs(s.variance / (bound ** 2 / 3) - 1);
    assert.ok(rel < (kernel.length > 10000 ? 0.02 : 0.08), `dense${l} kernel variance ${s.variance} vs ${bound ** 2 / 3}`);
    assert.ok(Math.abs(s.mean) < 5 * bound / Math.sqrt(3 * kernel.length), `dense${l} kernel mean ${s.mean}`);
    assert.ok(values(params[`dense${l}/bias`]).every((b) => b === 0), `dense${l} bias not zero`);
  }
  disposeParams(params);
});

test("'pytorch' init: weights and biases uniform within 1/sqrt(fanIn)", () => {
  const sizes = [200, 300, 10];
  const params = mlp(sizes, { init: 'pytorch' }).init(Rng.fromSeed(42));
  for (let l = 0; l < 2; l++) {
    const fanIn = sizes[l];
    const bound = 1 / Math.sqrt(fanIn);
    const kernel = values(params[`dense${l}/kernel`]);
    const bias = values(params[`dense${l}/bias`]);
    const ks = stats(kernel);
    assert.ok(ks.maxAbs <= bound && ks.maxAbs > 0.99 * bound, `dense${l} kernel max |w| ${ks.maxAbs}, bound ${bound}`);
    assert.ok(Math.abs(ks.variance / (bound ** 2 / 3) - 1) < (kernel.length > 10000 ? 0.02 : 0.08), `dense${l} kernel variance ${ks.variance}`);
    const bs = stats(bias);
    assert.ok(bs.maxAbs <= bound, `dense${l} bias max |b| ${bs.maxAbs} > ${bound}`);
    assert.ok(bias.every((b) => b !== 0), `dense${l} has zero biases`);
    if (bias.length >= 300) {
      assert.ok(bs.maxAbs > 0.9 * bound, `dense${l} bias max |b| ${bs.maxAbs} << ${bound}`);
      assert.ok(Math.abs(bs.variance / (bound ** 2 / 3) - 1) < 0.3, `dense${l} bias variance ${bs.variance}`);
    }
  }
  disposeParams(params);
});

test('the same seed gives the same weights; other seeds and later draws differ', () => {
  for (const init of ['tensorflow', 'pytorch'] as const) {
    const model = mlp([4, 6, 3], { init });
    const a = model.init(Rng.fromSeed(7));
    const b = model.init(Rng.fromSeed(7));
    const c = model.init(Rng.fromSeed(8));
    const rng = Rng.fromSeed(7);
    const first = model.init(rng);
    const second = model.init(rng);
    assert.deepEqual(toHost(a), toHost(b));
    assert.deepEqual(toHost(a), toHost(first));
    assert.notDeepEqual(toHost(a).values[0], toHost(c).values[0]);
    assert.notDeepEqual(toHost(first).values[0], toHost(second).values[0]);
    for (const p of [a, b, c, first, second]) disposeParams(p);
  }
});

test('apply() matches a float64 host forward pass (relu and tanh) and leaks no tensors', () => {
  const x = [
    [0.5, -1.2],
    [2, 0.3],
    [-0.7, -0.1],
    [0, 1.5],
  ];
  for (const activation of ['relu', 'tanh'] as const) {
    const sizes = [2, 5, 3];
    const model = mlp(sizes, { activation, init: 'pytorch' });
    const params = model.init(Rng.fromSeed(3));
    const host = toHost(params);
    const xs = tf.tensor2d(x);
    const before = tf.memory().numTensors;
    const y = model.apply(params, xs);
    assert.equal(tf.memory().numTensors, before + 1, `${activation}: apply left intermediates behind`);
    assert.deepEqual(y.shape, [4, 3]);
    const expected = hostForward(host, sizes, activation, x).flat();
    values(y).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `${activation} output[${i}] = ${v}, expected ${expected[i]}`));
    y.dispose();
    // Inputs with trailing dimensions are flattened to [batch, inputSize]; training mode is accepted.
    const x3 = tf.tensor3d(x.map((row) => row.map((v) => [v])));
    const y3 = model.apply(params, x3, { training: true });
    assert.deepEqual(values(y3).map((v) => +v.toFixed(5)), expected.map((v) => +v.toFixed(5)));
    tf.dispose([x3, y3]);
    assert.equal(tf.memory().numTensors, before);
    xs.dispose();
    disposeParams(params);
  }
});

// ---------------------------------------------------------------- gradients

/** Gradients of loss(model(params, x), y) w.r.t. every parameter, flattened per parameter. */
function modelGradients(model: Model, host: HostSet, loss: LossFn, x: tf.Tensor, y: tf.Tensor): number[][] {
  const params = fromHost(host);
  const list = host.names.map((n) => params[n]);
  const grads = tf.grads((...ts: tf.Tensor[]) => {
    const p: Record<string, tf.Tensor> = {};
    host.names.forEach((n, i) => (p[n] = ts[i]));
    return loss(model.apply(p, x), y);
  })(list);
  const out = grads.map(values);
  tf.dispose(grads);
  disposeParams(params);
  return out;
}

function lossAt(model: Model, host: HostSet, loss: LossFn, x: tf.Tensor, y: tf.Tensor, replace?: { index: number; entry: number; value: number }): number {
  const params = fromHost(host, replace);
  const l = tf.tidy(() => loss(model.apply(params, x), y));
  const v = l.dataSync()[0];
  l.dispose();
  disposeParams(params);
  return v;
}

/** Central finite differences, one parameter entry at a time (float32 losses, float64 differences). */
function fdGradients(model: Model, host: HostSet, loss: LossFn, x: tf.Tensor, y: tf.Tensor, h: number): number[][] {
  return host.values.map((vals, index) =>
    vals.map((v, entry) => {
      const up = lossAt(model, host, loss, x, y, { index, entry, value: v + h });
      const down = lossAt(model, host, loss, x, y, { index, entry, value: v - h });
      return (up - down) / (2 * h);
    }),
  );
}

function assertGradientsClose(actual: number[][], expected: number[][], names: string[], abs: number, rel: number, label: string): void {
  actual.forEach((g, k) =>
    g.forEach((a, i) => {
      const e = expected[k][i];
      assert.ok(Math.abs(a - e) <= abs + rel * Math.abs(e), `${label}: d/d ${names[k]}[${i}] = ${a}, finite differences ${e}`);
    }),
  );
}

/*
 * Step and tolerance: the loss is float32 (relative rounding ~6e-8 on values of O(1)), so with
 * h = 3e-3 the central difference carries ~2e-5 rounding error plus ~h^2 |f'''| / 6 ~ 1e-5
 * truncation; the tolerance 5e-4 + 1e-2 |fd| leaves a wide margin, while a wrong gradient entry
 * (wrong transpose, missing activation derivative, wrong bias reduction) is off by O(|g|).
 */
const H = 3e-3;

test('mlp 1-8-8-1 tanh + mse: gradient w.r.t. every parameter entry matches finite differences', () => {
  const sizes = [1, 8, 8, 1];
  const model = mlp(sizes, { activation: 'tanh', init: 'pytorch' });
  const params = model.init(Rng.fromSeed(11));
  const host = toHost(params);
  disposeParams(params);
  const x = tf.tensor2d([[-1.5], [-0.4], [0.3], [1.1], [2.2]]);
  const y = tf.tensor2d([[0.8], [-0.2], [0.5], [1.4], [-0.9]]);
  for (const reduction of ['mean', 'sum'] as const) {
    const loss = meanSquaredError(reduction);
    const before = tf.memory().numTensors;
    const g = modelGradients(model, host, loss, x, y);
    assert.equal(tf.memory().numTensors, before, 'gradient computation leaked');
    assert.deepEqual(g.map((a) => a.length), [8, 8, 64, 8, 8, 1]);
    assert.ok(g.every((a) => a.some((v) => Math.abs(v) > 1e-4)), 'some parameter has an all-zero gradient');
    assertGradientsClose(g, fdGradients(model, host, loss, x, y, H), host.names, 5e-4, 1e-2, `tanh mlp, mse ${reduction}`);
  }
  tf.dispose([x, y]);
});

test('mlp 4-6-3 relu + cross-entropy: gradient w.r.t. every parameter entry matches finite differences', () => {
  const sizes = [4, 6, 3];
  const model = mlp(sizes, { activation: 'relu', init: 'tensorflow' });
  const params = model.init(Rng.fromSeed(5));
  const host = toHost(params);
  disposeParams(params);
  // Inputs away from the relu kinks: a finite-difference step moves a pre-activation by at most
  // H * max(1, |x|) ~ 1e-2 here, so require every |pre-activation| > 0.05, with some units off
  // and some on so that the relu derivative matters. Drawn deterministically from a seeded rng.
  const rng = Rng.fromSeed(2024);
  let xRows: number[][] = [];
  for (let attempt = 0; attempt < 1000; attempt++) {
    xRows = Array.from({ length: 5 }, () => Array.from({ length: 4 }, () => rng.uniform(-2, 2)));
    const pre = hostForward(host, [4, 6], 'linear', xRows).flat(); // hidden pre-activations
    if (pre.every((z) => Math.abs(z) > 0.05) && pre.filter((z) => z < 0).length >= 5 && pre.filter((z) => z > 0).length >= 5) break;
    xRows = [];
  }
  assert.ok(xRows.length > 0, 'no input away from the relu kinks found');
  const x = tf.tensor2d(xRows);
  const labels = tf.tensor1d([0, 2, 1, 2, 0], 'int32');
  for (const reduction of ['mean', 'sum'] as const) {
    const loss = crossEntropy(reduction);
    const g = modelGradients(model, host, loss, x, labels);
    assert.deepEqual(g.map((a) => a.length), [24, 6, 18, 3]);
    // Zero biases at init still get a gradient.
    assert.ok(g[1].some((v) => Math.abs(v) > 1e-4) && g[3].some((v) => Math.abs(v) > 1e-4));
    assertGradientsClose(g, fdGradients(model, host, loss, x, labels, H), host.names, 5e-4, 1e-2, `relu mlp, cross-entropy ${reduction}`);
  }
  tf.dispose([x, labels]);
});

test('mlp 1-8-8-1 tanh: Hessian-vector product w.r.t. the parameters matches finite differences of the gradient', () => {
  // Second-order MAML differentiates the inner-loop gradient again; tfjs's own tanh gradient
  // reuses its saved output, which the tape does not connect to the input, so the model must
  // use a tanh whose derivative is rebuilt from its input (src/nn/ops.ts).
  const model = mlp([1, 8, 8, 1], { activation: 'tanh', init: 'pytorch' });
  const params = model.init(Rng.fromSeed(12));
  const names = Object.keys(params);
  const list = names.map((n) => params[n]);
  const dirRng = Rng.fromSeed(99);
  const vs = list.map((p) => tf.tensor(Array.from({ length: p.size }, () => dirRng.uniform(-1, 1)), p.shape));
  const x = tf.tensor2d([[-1.5], [-0.4], [0.3], [1.1], [2.2]]);
  const y = tf.tensor2d([[0.8], [-0.2], [0.5], [1.4], [-0.9]]);
  const loss = meanSquaredError('mean');
  const lossOf = (...ts: tf.Tensor[]) => {
    const p: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => (p[n] = ts[i]));
    return loss(model.apply(p, x), y);
  };
  const hv = tf.grads((...ts: tf.Tensor[]) => {
    const g = tf.grads(lossOf)(ts);
    return tf.addN(g.map((gi, i) => tf.sum(tf.mul(gi, vs[i])))) as tf.Scalar;
  })(list);
  const got = hv.flatMap(values);
  const h = 1e-2;
  const gradAt = (sign: number) => {
    const shifted = list.map((p, i) => tf.tidy(() => tf.add(p, tf.mul(vs[i], sign * h))));
    const g = tf.grads(lossOf)(shifted);
    const out = g.flatMap(values);
    tf.dispose([...g, ...shifted]);
    return out;
  };
  const plus = gradAt(1);
  const minus = gradAt(-1);
  const fd = plus.map((p, i) => (p - minus[i]) / (2 * h));
  const scale = Math.max(...fd.map(Math.abs));
  assert.ok(scale > 1e-2, 'degenerate Hessian-vector product');
  got.forEach((g, i) => assert.ok(Math.abs(g - fd[i]) <= 1e-3 + 1e-2 * scale, `HVP[${i}] = ${g}, finite differences ${fd[i]}`));
  tf.dispose([...hv, ...vs, x, y]);
  disposeParams(params);
});
