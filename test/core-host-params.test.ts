/**
 * Host parameter arithmetic (src/core/host-params.ts) gives bitwise
 * the same numbers as the tfjs ops of src/core/params.ts on the wasm and cpu backends, which is
 * what lets Reptile move its meta-update to the host without changing any result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, interpolate, meanParams, paramsFromHost, paramsToHost, subtract, type HostParams } from '../src/core/params.js';
import { hostAddScaled, hostMean, hostSubtract } from '../src/core/host-params.js';
import { fastHostAddScaled, fastHostMean, fastHostSubtract } from '../src/kernels/host-arithmetic.js';
import { mapParams } from '../src/core/params.js';
import { tf } from '../src/core/tf.js';

function randomSet(rng: Rng): HostParams {
  // Odd sizes: not multiples of the SIMD width.
  return { names: ['w', 'b', 'v'], shapes: [[13, 7], [7], [3]], values: [91, 7, 3].map((n) => Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(4))) };
}

function assertBitwise(actual: HostParams, expected: HostParams, what: string): void {
  assert.deepEqual(actual.names, expected.names);
  assert.deepEqual(actual.shapes, expected.shapes);
  expected.values.forEach((v, k) => v.forEach((e, i) => assert.ok(Object.is(actual.values[k][i], e), `${what}: ${expected.names[k]}[${i}] ${actual.values[k][i]} vs ${e}`)));
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`host mean, interpolation and difference equal the tfjs ops bitwise (${backend})`, async () => {
    await useBackend(backend);
    const rng = Rng.fromSeed(11);
    for (const n of [1, 2, 3, 5]) {
      const sets = Array.from({ length: n }, () => randomSet(rng));
      const tensors = sets.map(paramsFromHost);
      const mean = meanParams(tensors);
      const expectedMean = await paramsToHost(mean);
      assertBitwise(hostMean(sets), expectedMean, `mean of ${n}`);
      assertBitwise(fastHostMean(sets), expectedMean, `wasm mean of ${n}`);
      const t = rng.uniform(0, 1);
      const between = interpolate(tensors[0], mean, t);
      const expected = await paramsToHost(between);
      assertBitwise(hostAddScaled(sets[0], hostSubtract(expectedMean, sets[0]), () => t), expected, 'interpolation: a + t (b - a)');
      const diff = subtract(tensors[0], mean);
      assertBitwise(hostSubtract(sets[0], expectedMean), await paramsToHost(diff), 'difference');
      assertBitwise(fastHostSubtract(sets[0], expectedMean), await paramsToHost(diff), 'wasm difference');
      // The outer update theta + eps u, as outer-update.ts does it on the device.
      const u = subtract(mean, tensors[0]);
      const stepped = mapParams(tensors[0], (p, name) => tf.tidy(() => tf.add(p, tf.mul(u[name], t))));
      assertBitwise(hostAddScaled(sets[0], await paramsToHost(u), () => t), await paramsToHost(stepped), 'theta + eps u');
      assertBitwise(fastHostAddScaled(sets[0], await paramsToHost(u), () => t), await paramsToHost(stepped), 'wasm theta + eps u');
      assertBitwise(hostAddScaled(sets[0], await paramsToHost(u), () => t), expected, 'theta + eps (mean - theta) is the interpolation');
      [...tensors, mean, between, diff, u, stepped].forEach(disposeParams);
    }
  });
}

test('host arithmetic refuses parameter sets of different layouts', () => {
  const rng = Rng.fromSeed(1);
  const a = randomSet(rng);
  const b = { ...randomSet(rng), names: ['w', 'b', 'other'] };
  assert.throws(() => hostMean([a, b]), /differ/);
  assert.throws(() => hostAddScaled(a, b, () => 0.5), /differ/);
});
