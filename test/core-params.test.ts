/** Parameter-set helpers (src/core/params.ts) on hand values, and their tensor bookkeeping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import {
  cloneParams,
  countParams,
  disposeParams,
  interpolate,
  mapParams,
  meanParams,
  paramNames,
  paramsFromHost,
  paramsFromList,
  paramsToHost,
  paramsToList,
  subtract,
  zipParams,
  type ParamSet,
} from '../src/core/params.js';

await useBackend('wasm');

type HostSet = Record<string, { shape: number[]; values: number[] }>;

function make(host: HostSet): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, { shape, values }] of Object.entries(host)) out[name] = tf.tensor(values, shape, 'float32');
  return out;
}

function read(params: ParamSet): Record<string, { shape: number[]; values: number[] }> {
  const out: Record<string, { shape: number[]; values: number[] }> = {};
  for (const name of Object.keys(params)) out[name] = { shape: params[name].shape.slice(), values: Array.from(params[name].dataSync()) };
  return out;
}

function assertClose(actual: ParamSet, expected: HostSet, tol = 1e-6): void {
  const got = read(actual);
  assert.deepEqual(Object.keys(got), Object.keys(expected), 'parameter names / order');
  for (const name of Object.keys(expected)) {
    assert.deepEqual(got[name].shape, expected[name].shape, `${name} shape`);
    got[name].values.forEach((v, i) => {
      const e = expected[name].values[i];
      assert.ok(Math.abs(v - e) <= tol * Math.max(1, Math.abs(e)), `${name}[${i}] = ${v}, expected ${e}`);
    });
  }
}

const A: HostSet = {
  'dense0/kernel': { shape: [2, 2], values: [1, 2, 3, 4] },
  'dense0/bias': { shape: [2], values: [-1, 0.5] },
  scalar: { shape: [], values: [10] },
};
const B: HostSet = {
  'dense0/kernel': { shape: [2, 2], values: [5, -2, 3, 8] },
  'dense0/bias': { shape: [2], values: [1, 1.5] },
  scalar: { shape: [], values: [-2] },
};
const C: HostSet = {
  'dense0/kernel': { shape: [2, 2], values: [0, 3, -3, 0.25] },
  'dense0/bias': { shape: [2], values: [3, -2] },
  scalar: { shape: [], values: [1] },
};

function hostMap(a: HostSet, fn: (x: number, name: string, i: number) => number): HostSet {
  const out: HostSet = {};
  for (const [name, { shape, values }] of Object.entries(a)) out[name] = { shape, values: values.map((x, i) => fn(x, name, i)) };
  return out;
}

test('interpolate(a, b, t) = a + t (b - a), leaving a and b intact', () => {
  const a = make(A);
  const b = make(B);
  for (const t of [0, 0.25, 1, -0.5, 1.5]) {
    const out = interpolate(a, b, t);
    assertClose(out, hostMap(A, (x, name, i) => x + t * (B[name].values[i] - x)));
    for (const name of paramNames(out)) assert.notEqual(out[name], a[name]);
    disposeParams(out);
  }
  // t = 0.25 by hand for the kernel: 1 + 0.25*4 = 2, 2 + 0.25*(-4) = 1, 3, 4 + 0.25*4 = 5.
  const q = interpolate(a, b, 0.25);
  assert.deepEqual(Array.from(q['dense0/kernel'].dataSync()), [2, 1, 3, 5]);
  assert.deepEqual(Array.from(q['dense0/bias'].dataSync()), [-0.5, 0.75]);
  assert.deepEqual(Array.from(q.scalar.dataSync()), [7]);
  disposeParams(q);
  assertClose(a, A);
  assertClose(b, B);
  disposeParams(a);
  disposeParams(b);
});

test('meanParams: element-wise mean of several sets', () => {
  const sets = [make(A), make(B), make(C)];
  const mean = meanParams(sets);
  assertClose(mean, hostMap(A, (x, name, i) => (x + B[name].values[i] + C[name].values[i]) / 3));
  // By hand: kernel (1+5+0)/3 = 2, (2-2+3)/3 = 1, (3+3-3)/3 = 1, (4+8+0.25)/3 = 4.0833...
  assert.deepEqual(Array.from(mean['dense0/kernel'].dataSync()).map((v) => +v.toFixed(4)), [2, 1, 1, 4.0833]);
  disposeParams(mean);
  const two = meanParams([sets[0], sets[1]]);
  assertClose(two, hostMap(A, (x, name, i) => (x + B[name].values[i]) / 2));
  disposeParams(two);
  // One set: a copy that survives disposing the original.
  const one = meanParams([sets[2]]);
  for (const name of paramNames(one)) assert.notEqual(one[name], sets[2][name]);
  disposeParams(sets[2]);
  assertClose(one, C);
  disposeParams(one);
  assertClose(sets[0], A);
  disposeParams(sets[0]);
  disposeParams(sets[1]);
  assert.throws(() => meanParams([]), /at least one/);
});

test('subtract(a, b) = a - b', () => {
  const a = make(A);
  const b = make(B);
  const d = subtract(a, b);
  assertClose(d, hostMap(A, (x, name, i) => x - B[name].values[i]));
  assert.deepEqual(Array.from(d['dense0/kernel'].dataSync()), [-4, 4, 0, -4]);
  disposeParams(d);
  assertClose(a, A);
  assertClose(b, B);
  disposeParams(a);
  disposeParams(b);
});

test('paramsToHost / paramsFromHost round trip names, order, shapes and values', async () => {
  const values = [0.1, -1e-7, 3.4028234663852886e38, -2.5, 1 / 3, 7];
  const host0: HostSet = {
    z: { shape: [1, 2, 3], values },
    a: { shape: [3], values: [1, 2, 3] },
    s: { shape: [], values: [42] },
  };
  const params = make(host0);
  const host = await paramsToHost(params);
  assert.deepEqual(host.names, ['z', 'a', 's']);
  assert.deepEqual(host.shapes, [[1, 2, 3], [3], []]);
  assert.ok(host.values.every((v) => v instanceof Float32Array));
  assert.deepEqual(Array.from(host.values[0]), Array.from(Float32Array.from(values)));
  // The host copy is detached from the tensors: changing it changes neither side.
  const back = paramsFromHost(host);
  host.values[1][0] = 99;
  assert.deepEqual(Array.from(params.a.dataSync()), [1, 2, 3]);
  assert.deepEqual(Array.from(back.a.dataSync()), [1, 2, 3]);
  assert.deepEqual(paramNames(back), ['z', 'a', 's']);
  for (const name of paramNames(back)) {
    assert.deepEqual(back[name].shape, params[name].shape);
    assert.equal(back[name].dtype, 'float32');
    assert.deepEqual(Array.from(back[name].dataSync()), Array.from(params[name].dataSync()));
  }
  // Survives JSON-like serialisation of the arrays (what checkpoints and workers do).
  const viaJson = paramsFromHost({ names: host.names, shapes: host.shapes, values: host.values.map((v) => Float32Array.from(Array.from(v))) });
  assert.deepEqual(Array.from(viaJson.z.dataSync()), Array.from(params.z.dataSync()));
  disposeParams(params);
  disposeParams(back);
  disposeParams(viaJson);
});

test('zipParams and the helpers on it throw for mismatched names', () => {
  const a = make(A);
  const missing = make({ 'dense0/kernel': A['dense0/kernel'], 'dense0/bias': A['dense0/bias'] });
  const renamed = make({ 'dense0/kernel': A['dense0/kernel'], 'dense1/bias': A['dense0/bias'], scalar: A.scalar });
  const extra = make({ ...A, more: { shape: [1], values: [0] } });
  const before = tf.memory().numTensors;
  for (const other of [missing, renamed, extra]) {
    assert.throws(() => zipParams(a, other, (x, y) => tf.add(x, y)), /parameter sets differ/);
    assert.throws(() => zipParams(other, a, (x, y) => tf.add(x, y)), /parameter sets differ/);
    assert.throws(() => interpolate(a, other, 0.5), /parameter sets differ/);
    assert.throws(() => subtract(other, a), /parameter sets differ/);
    assert.throws(() => meanParams([a, other]), /parameter sets differ/);
    assert.throws(() => meanParams([other, a, a]), /parameter sets differ/);
  }
  // A failed call allocates nothing.
  assert.equal(tf.memory().numTensors, before);
  for (const p of [a, missing, renamed, extra]) disposeParams(p);
});

test('the helpers leak no tensors: each returns exactly its outputs', async () => {
  const a = make(A);
  const b = make(B);
  const c = make(C);
  const n = paramNames(a).length;
  const baseline = tf.memory().numTensors;
  const cases: Array<[string, () => ParamSet]> = [
    ['interpolate', () => interpolate(a, b, 0.3)],
    ['subtract', () => subtract(a, b)],
    ['meanParams(3)', () => meanParams([a, b, c])],
    ['meanParams(1)', () => meanParams([a])],
    ['cloneParams', () => cloneParams(a)],
    ['zipParams', () => zipParams(a, b, (x, y) => tf.tidy(() => tf.mul(tf.add(x, y), 2)))],
    ['mapParams', () => mapParams(a, (x) => tf.tidy(() => tf.square(tf.neg(x))))],
  ];
  for (const [label, fn] of cases) {
    const out = fn();
    assert.equal(tf.memory().numTensors, baseline + n, `${label} created extra tensors`);
    disposeParams(out);
    assert.equal(tf.memory().numTensors, baseline, `${label} leaked`);
  }
  const host = await paramsToHost(a);
  assert.equal(tf.memory().numTensors, baseline, 'paramsToHost leaked');
  const back = paramsFromHost(host);
  assert.equal(tf.memory().numTensors, baseline + n);
  disposeParams(back);
  assert.equal(tf.memory().numTensors, baseline);
  disposeParams(undefined);
  for (const p of [a, b, c]) disposeParams(p);
  assert.equal(tf.memory().numTensors, baseline - 3 * n);
});

test('list conversions, counting and cloning', () => {
  const a = make(A);
  assert.equal(countParams(a), 4 + 2 + 1);
  const list = paramsToList(a);
  assert.deepEqual(list, [a['dense0/kernel'], a['dense0/bias'], a.scalar]);
  const again = paramsFromList(paramNames(a), list);
  assert.deepEqual(paramNames(again), paramNames(a));
  for (const name of paramNames(a)) assert.equal(again[name], a[name]);
  const copy = cloneParams(a);
  disposeParams(a);
  assert.ok(list.every((t) => t.isDisposed));
  assertClose(copy, A);
  disposeParams(copy);
});
