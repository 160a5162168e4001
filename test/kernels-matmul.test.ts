/**
 * The wasm BatchMatMul wrapper (src/kernels/batch-mat-mul.ts) against the cpu backend: every
 * transpose combination, 2-D and batched operands, odd sizes, batch 1.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { registeredKernels } from '../src/kernels/index.js';
import { Rng } from '../src/core/rng.js';

function randomArray(rng: Rng, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => rng.normal());
}

async function product(backend: 'wasm' | 'cpu', a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): Promise<Float32Array> {
  await useBackend(backend);
  const x = tf.tensor(a, aShape);
  const y = tf.tensor(b, bShape);
  const r = tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb);
  const out = Float32Array.from(await r.data());
  tf.dispose([x, y, r]);
  return out;
}

test('the wrapper is registered for wasm', () => {
  assert.ok(registeredKernels.includes('BatchMatMul/wasm'));
});

test('wasm BatchMatMul matches cpu for every transpose combination, 2-D and batched, odd sizes', async () => {
  const rng = Rng.fromSeed(3);
  const cases: { batch: number[]; m: number; k: number; n: number }[] = [
    { batch: [], m: 1, k: 1, n: 1 },
    { batch: [], m: 7, k: 13, n: 5 },
    { batch: [], m: 50, k: 784, n: 64 },
    { batch: [1], m: 3, k: 9, n: 11 },
    { batch: [4], m: 6, k: 5, n: 7 },
  ];
  for (const { batch, m, k, n } of cases) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
        const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
        const a = randomArray(rng, aShape.reduce((x, y) => x * y, 1));
        const b = randomArray(rng, bShape.reduce((x, y) => x * y, 1));
        const expected = await product('cpu', a, aShape, b, bShape, ta, tb);
        const actual = await product('wasm', a, aShape, b, bShape, ta, tb);
        assert.equal(actual.length, expected.length);
        let worst = 0;
        for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
        assert.ok(worst < 1e-4, `[${aShape}]${ta ? 'T' : ''} x [${bShape}]${tb ? 'T' : ''}: relative error ${worst}`);
      }
    }
  }
});

test('the wrapper leaks no tensor data on the wasm backend', async () => {
  await useBackend('wasm');
  const a = tf.ones([8, 5]);
  const b = tf.ones([8, 3]);
  const before = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  for (let i = 0; i < 50; i++) tf.tidy(() => {
    tf.matMul(a, b, true, false);
  });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.memory().numBytes, bytes);
  tf.dispose([a, b]);
});
