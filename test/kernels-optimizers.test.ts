/**
 * The fused optimizer kernels (src/kernels/fused-optimizers.ts) against the composed updates of
 * src/nn/optimizers.ts, on the wasm and cpu backends: random parameters of odd shapes (scalars,
 * single elements, 3-D), several consecutive steps, to 1e-5 relative error. Also: the fused kernel
 * runs when nothing is differentiated and never under a gradient tape, and leaks no tensor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { adam, disposeOptimizerState, sgd, type Optimizer } from '../src/nn/optimizers.js';

const SHAPES: Record<string, number[]> = { a: [3, 5], b: [7], c: [1], d: [4, 1, 3], e: [] };

function randomSet(rng: Rng, scale = 1): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(SHAPES)) {
    const size = shape.reduce((x, y) => x * y, 1);
    out[name] = tf.tensor(Float32Array.from({ length: size }, () => rng.normal() * scale), shape, 'float32');
  }
  return out;
}

/** Runs `steps` updates from the same start with the same gradients; returns the host params and slots. */
async function trajectory(opt: Optimizer, steps: number, seed: number) {
  const rng = Rng.fromSeed(seed);
  let params = randomSet(rng);
  let state = opt.init(params);
  for (let s = 0; s < steps; s++) {
    const grads = randomSet(rng, s + 0.5);
    const next = opt.step(params, grads, state, 0.01 * (s + 1));
    disposeParams(grads);
    disposeParams(params);
    disposeOptimizerState(state);
    params = next.params;
    state = next.state;
  }
  const host = [await paramsToHost(params)];
  for (const slot of Object.values(state.slots)) host.push(await paramsToHost(slot));
  disposeParams(params);
  disposeOptimizerState(state);
  return { step: state.step, values: host.flatMap((h) => h.values) };
}

const CASES: [string, (fused: boolean) => Optimizer][] = [
  ['sgd', (fused) => sgd({ learningRate: 0.1, fused })],
  ['sgd momentum 0.9', (fused) => sgd({ learningRate: 0.1, momentum: 0.9, fused })],
  ['adam beta1 0 (the paper)', (fused) => adam({ learningRate: 0.001, beta1: 0, fused })],
  ['adam beta1 0.9 epsilon 1e-3', (fused) => adam({ learningRate: 0.01, beta1: 0.9, epsilon: 1e-3, fused })],
];

for (const backend of ['wasm', 'cpu'] as const) {
  for (const [label, make] of CASES) {
    test(`${backend}: fused ${label} matches the composed update over 4 steps`, async () => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const fused = await trajectory(make(true), 4, 11);
      const composed = await trajectory(make(false), 4, 11);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      assert.equal(fused.step, composed.step);
      assert.equal(fused.values.length, composed.values.length);
      fused.values.forEach((f, k) => {
        const c = composed.values[k];
        assert.equal(f.length, c.length);
        f.forEach((x, i) => assert.ok(Math.abs(x - c[i]) <= 1e-5 * Math.max(1, Math.abs(c[i])), `${label} array ${k}[${i}]: fused ${x}, composed ${c[i]}`));
      });
    });
  }
}

for (const backend of ['wasm', 'cpu'] as const) test(`${backend}: the fused kernel runs outside a gradient tape and never inside one`, async () => {
  await useBackend(backend);
  const opt = adam({ learningRate: 0.001, beta1: 0 });
  const rng = Rng.fromSeed(3);
  const params = randomSet(rng);
  const grads = randomSet(rng);
  const state = opt.init(params);
  const kernelsOf = async (f: () => void) => (await tf.profile(f)).kernels.map((k) => k.name);
  const outside = await kernelsOf(() => {
    const r = opt.step(params, grads, state);
    disposeParams(r.params);
    disposeOptimizerState(r.state);
  });
  assert.deepEqual(outside, ['ReptileAdamUpdate']);
  const inside = await kernelsOf(() => {
    const x = tf.scalar(2);
    // The update as part of a differentiated function: d/dx sum(update(p, x * g)).
    const dx = tf.grad((s: tf.Tensor) => {
      const scaled = Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, tf.mul(g, s)]));
      const r = opt.step(params, scaled, state);
      return tf.addN(Object.values(r.params).map((p) => tf.sum(p))) as tf.Scalar;
    })(x);
    assert.ok(Number.isFinite(dx.dataSync()[0]));
    dx.dispose();
    x.dispose();
  });
  assert.ok(!inside.includes('ReptileAdamUpdate'), 'fused kernel used under a tape');
  disposeParams(params);
  disposeParams(grads);
  disposeOptimizerState(state);
});
