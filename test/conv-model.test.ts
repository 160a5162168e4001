/**
 * The CNNs of src/nn/conv.ts: parameter names, shapes and initialisation; the forward pass
 * (batch statistics, input layouts, no leaked tensors); gradients against central finite
 * differences on the cpu and wasm backends; a training step on wasm.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramNames, paramsFromList, paramsToList, type ParamSet } from '../src/core/params.js';
import { batchNormBatchStats, conv, convFeatureShape, convSpec, miniImageNetConv, omniglotConv } from '../src/nn/conv.js';
import { buildModel } from '../src/nn/build.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam, disposeOptimizerState } from '../src/nn/optimizers.js';
import { trainStep } from '../src/algorithms/inner-loop.js';
import type { Model } from '../src/nn/model.js';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

await tf.setBackend('wasm');

function randomInput(seed: number, shape: number[]): tf.Tensor {
  const rng = Rng.fromSeed(seed);
  return tf.tensor(Float32Array.from({ length: sizeOf(shape) }, () => rng.uniform(0, 1)), shape);
}

describe('parameters', () => {
  test('Omniglot: names and shapes as in Keras, 64 filters, stride 2 down to 2x2', () => {
    const model = omniglotConv(5);
    const params = model.init(Rng.fromSeed(1));
    const shapes = Object.fromEntries(Object.entries(params).map(([n, p]) => [n, p.shape]));
    assert.deepEqual(shapes, {
      'conv0/kernel': [3, 3, 1, 64], 'conv0/bias': [64], 'bn0/gamma': [64], 'bn0/beta': [64],
      'conv1/kernel': [3, 3, 64, 64], 'conv1/bias': [64], 'bn1/gamma': [64], 'bn1/beta': [64],
      'conv2/kernel': [3, 3, 64, 64], 'conv2/bias': [64], 'bn2/gamma': [64], 'bn2/beta': [64],
      'conv3/kernel': [3, 3, 64, 64], 'conv3/bias': [64], 'bn3/gamma': [64], 'bn3/beta': [64],
      'dense/kernel': [256, 5], 'dense/bias': [5],
    });
    assert.deepEqual(model.spec, { kind: 'conv', variant: 'omniglot', inputShape: [28, 28, 1], classes: 5, filters: 64, init: 'tensorflow' });
    assert.equal(model.batchStatistics, true);
    assert.equal(model.outputSize, 5);
    disposeParams(params);
  });

  test('Mini-ImageNet: 32 filters, 84 -> 42 -> 21 -> 11 -> 6 after pooling', () => {
    const model = miniImageNetConv(5);
    assert.deepEqual(convFeatureShape(model.spec as ReturnType<typeof convSpec>), [6, 6, 32]);
    const params = model.init(Rng.fromSeed(1));
    assert.deepEqual(params['conv0/kernel'].shape, [3, 3, 3, 32]);
    assert.deepEqual(params['conv3/kernel'].shape, [3, 3, 32, 32]);
    assert.deepEqual(params['dense/kernel'].shape, [6 * 6 * 32, 5]);
    disposeParams(params);
  });

  test("'tensorflow' init: Glorot-uniform kernels (fans include the 3x3 field), zero biases, gamma 1, beta 0", async () => {
    const params = omniglotConv(5).init(Rng.fromSeed(2));
    const check = async (name: string, bound: number) => {
      const v = await params[name].data();
      const max = Math.max(...Array.from(v, Math.abs));
      assert.ok(max <= bound && max > 0.9 * bound, `${name}: max |w| ${max} vs bound ${bound}`);
      const mean = Array.from(v).reduce((a, b) => a + b, 0) / v.length;
      assert.ok(Math.abs(mean) < 0.1 * bound, `${name}: mean ${mean}`);
    };
    await check('conv0/kernel', Math.sqrt(6 / (9 * 1 + 9 * 64)));
    await check('conv1/kernel', Math.sqrt(6 / (9 * 64 + 9 * 64)));
    await check('dense/kernel', Math.sqrt(6 / (256 + 5)));
    for (let l = 0; l < 4; l++) {
      assert.ok((await params[`conv${l}/bias`].data()).every((x) => x === 0));
      assert.ok((await params[`bn${l}/gamma`].data()).every((x) => x === 1));
      assert.ok((await params[`bn${l}/beta`].data()).every((x) => x === 0));
    }
    assert.ok((await params['dense/bias'].data()).every((x) => x === 0));
    disposeParams(params);
  });

  test("'pytorch' init: U(+-1/sqrt(fanIn)) weights and biases, fanIn = 3*3*in", async () => {
    const params = omniglotConv(5, { init: 'pytorch' }).init(Rng.fromSeed(3));
    for (const [name, bound] of [
      ['conv1/kernel', 1 / Math.sqrt(9 * 64)],
      ['conv1/bias', 1 / Math.sqrt(9 * 64)],
      ['dense/bias', 1 / Math.sqrt(256)],
    ] as const) {
      const v = await params[name].data();
      const max = Math.max(...Array.from(v, Math.abs));
      assert.ok(max <= bound && max > 0.5 * bound, `${name}: max |w| ${max} vs bound ${bound}`);
    }
    disposeParams(params);
  });

  test('same seed, same weights; buildModel rebuilds from the spec', async () => {
    const model = omniglotConv(5);
    const a = model.init(Rng.fromSeed(4));
    const rebuilt = buildModel(JSON.parse(JSON.stringify(model.spec)));
    assert.deepEqual(rebuilt.spec, model.spec);
    const b = rebuilt.init(Rng.fromSeed(4));
    for (const n of paramNames(a)) assert.deepEqual(await a[n].data(), await b[n].data(), n);
    disposeParams(a);
    disposeParams(b);
  });

  test('bad specs are refused with a message', () => {
    assert.throws(() => conv({ variant: 'omniglot', classes: 0 }), /classes/);
    assert.throws(() => conv({ variant: 'omniglot', classes: 5, inputShape: [28, 28] }), /inputShape/);
    assert.throws(() => conv({ variant: 'cifar' as 'omniglot', classes: 5 }), /variant/);
  });
});

describe('forward pass', () => {
  test('accepts [B,28,28,1], [B,28,28] and [B,784]; returns [B, classes]; leaks no tensors', async () => {
    await tf.setBackend('wasm');
    const model = omniglotConv(5);
    const params = model.init(Rng.fromSeed(5));
    const x = randomInput(6, [4, 28, 28, 1]);
    const before = tf.memory().numTensors;
    const outs = [x, x.reshape([4, 28, 28]), x.reshape([4, 784])].map((input) => {
      const y = model.apply(params, input, { training: true });
      const data = y.dataSync();
      assert.deepEqual(y.shape, [4, 5]);
      y.dispose();
      if (input !== x) input.dispose();
      return Array.from(data);
    });
    assert.equal(tf.memory().numTensors, before, 'apply leaks no tensors');
    assert.deepEqual(outs[1], outs[0]);
    assert.deepEqual(outs[2], outs[0]);
    assert.throws(() => model.apply(params, tf.zeros([4, 27, 28])), /does not hold/);
    x.dispose();
    disposeParams(params);
  });

  test('batch norm uses the batch statistics (mean 0, variance ~1 over B,H,W per channel; epsilon 1e-3)', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => Math.sin(i) * (i % 2 ? 3 : 0.01)), [2, 3, 3, 2]);
    const y = batchNormBatchStats(x, tf.ones([2]), tf.zeros([2]));
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    const m = await mean.data();
    const v = await variance.data();
    const vx = await tf.moments(x, [0, 1, 2]).variance.data();
    for (let c = 0; c < 2; c++) {
      assert.ok(Math.abs(m[c]) < 1e-5, `mean ${m[c]}`);
      // var(y) = var(x) / (var(x) + eps): epsilon matters for the nearly-constant channel 0.
      assert.ok(Math.abs(v[c] - vx[c] / (vx[c] + 1e-3)) < 1e-4, `channel ${c}: variance ${v[c]} vs ${vx[c] / (vx[c] + 1e-3)}`);
    }
    tf.dispose([x, y, mean, variance]);
  });

  test("an example's output depends on the rest of its batch (batch statistics, as the original)", async () => {
    await tf.setBackend('wasm');
    const model = omniglotConv(3, { inputShape: [12, 12, 1], filters: 4 });
    const params = model.init(Rng.fromSeed(7));
    const a = randomInput(8, [3, 12, 12, 1]);
    const b = tf.concat([a.slice([0], [1]), randomInput(9, [2, 12, 12, 1])]);
    const ya = (await model.apply(params, a).data()).slice(0, 3);
    const yb = (await model.apply(params, b).data()).slice(0, 3);
    assert.notDeepEqual(Array.from(ya), Array.from(yb));
    tf.dispose([a, b]);
    disposeParams(params);
  });
});

/** Host copy of every parameter as float64. */
async function hostValues(params: ParamSet): Promise<Record<string, Float64Array>> {
  const out: Record<string, Float64Array> = {};
  for (const n of paramNames(params)) out[n] = Float64Array.from(await params[n].data());
  return out;
}

const FD_MODELS: { name: string; model: () => Model; batch: number }[] = [
  // Small inputs keep the check fast; 28x28 ends at 2x2, so the last batch norm sees 3*2*2 values.
  { name: 'Omniglot CNN (28x28x1, 4 filters, 3 classes)', model: () => omniglotConv(3, { filters: 4 }), batch: 3 },
  { name: 'Mini-ImageNet CNN (20x20x3, 3 filters, 3 classes, pytorch init)', model: () => miniImageNetConv(3, { inputShape: [20, 20, 3], filters: 3, init: 'pytorch' }), batch: 3 },
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradients match central finite differences (${backend})`, () => {
    FD_MODELS.forEach(({ name, model: make, batch }, m) => {
      test(name, async () => {
        await tf.setBackend(backend);
        const model = make();
        const init = model.init(Rng.fromSeed(20 + m));
        // Non-zero biases and betas, gammas away from 1, so that every parameter matters.
        const rng = Rng.fromSeed(30 + m);
        const params: ParamSet = Object.fromEntries(
          Object.entries(init).map(([n, p]) => [n, n.endsWith('kernel') ? p.clone() : tf.tidy(() => tf.add(p, tf.tensor(Float32Array.from({ length: p.size }, () => rng.uniform(-0.2, 0.2)), p.shape)))]),
        );
        disposeParams(init);
        const x = randomInput(40 + m, [batch, ...model.inputShape]);
        const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % model.outputSize), 'int32');
        const loss = crossEntropy('sum');
        const names = paramNames(params);
        const f = (...list: tf.Tensor[]) => loss(model.apply(paramsFromList(names, list), x), y);

        const before = tf.memory().numTensors;
        const grads = tf.tidy(() => tf.grads(f)(paramsToList(params)));
        const host = await hostValues(params);
        const analytic = await Promise.all(grads.map(async (g) => Float64Array.from(await g.data())));
        tf.dispose(grads);
        assert.equal(tf.memory().numTensors, before, 'the gradient computation leaks no tensors');

        const lossAt = (name: string, index: number, value: number): number => {
          const shifted = paramsFromList(
            names,
            names.map((n) => (n === name ? tf.tensor(Float32Array.from(host[n]).fill(value, index, index + 1), params[n].shape) : params[n])),
          );
          const l = tf.tidy(() => f(...paramsToList(shifted)));
          const v = l.dataSync()[0];
          l.dispose();
          shifted[name].dispose();
          return v;
        };
        // float32 losses: steps of 1e-3 down to 1e-4 keep rounding error (~1e-7 * loss / h) below
        // ~3e-3. ReLU and max-pool kinks make the loss only piecewise smooth: moving a first-layer
        // weight moves thousands of pre-activations, and at h = 1e-3 some cross a kink (measured:
        // one-sided quotients 40% apart). So the step shrinks until the forward and backward
        // quotients agree (no kink within reach), and their mean, the central difference, is
        // compared. An entry with no such step is replaced by another; every parameter gets 3
        // checked entries. The tolerance (3% of the entry plus 0.5% of the parameter's largest
        // gradient) is far below what a wrong kernel, padding or transposition gives (O(1)).
        const pick = Rng.fromSeed(50 + m);
        const failures: string[] = [];
        let checked = 0;
        let skipped = 0;
        names.forEach((n, k) => {
          const g = analytic[k];
          const scale = Math.max(...Array.from(g, Math.abs), 1);
          let done = 0;
          for (let attempt = 0; attempt < 15 && done < 3; attempt++) {
            const index = pick.int(g.length);
            const value = host[n][index];
            const tolerance = 3e-2 * Math.abs(g[index]) + 5e-3 * scale;
            const f0 = lossAt(n, index, value);
            let central: number | undefined;
            for (const h of [1e-3, 3e-4, 1e-4]) {
              const forward = (lossAt(n, index, value + h) - f0) / h;
              const backward = (f0 - lossAt(n, index, value - h)) / h;
              if (Math.abs(forward - backward) <= tolerance) {
                central = (forward + backward) / 2;
                break;
              }
            }
            if (central === undefined) {
              skipped++;
              continue;
            }
            done++;
            checked++;
            if (!(Math.abs(central - g[index]) <= tolerance)) failures.push(`${n}[${index}]: analytic ${g[index]}, finite difference ${central}`);
          }
        });
        assert.ok(skipped <= checked, `${skipped} entries skipped near kinks, ${checked} checked`);
        assert.equal(checked, names.length * 3, 'every parameter has 3 checked entries');
        assert.deepEqual(failures, []);
        tf.dispose([x, y]);
        disposeParams(params);
      });
    });
  });
}

describe('training on wasm', () => {
  test('Adam steps on the Omniglot CNN (batch 10, 5-way) reduce the loss; gradients match cpu', async () => {
    const model = omniglotConv(5);
    const loss = crossEntropy('sum');
    const x = randomInput(60, [10, 28, 28, 1]);
    const y = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], 'int32');

    const gradsOn = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const params = model.init(Rng.fromSeed(61));
      const names = paramNames(params);
      const xb = tf.tensor(x.dataSync(), x.shape);
      const yb = tf.tensor(y.dataSync(), y.shape, 'int32');
      const grads = tf.grads((...list: tf.Tensor[]) => loss(model.apply(paramsFromList(names, list), xb), yb))(paramsToList(params));
      const out = await Promise.all(grads.map(async (g) => Float64Array.from(await g.data())));
      tf.dispose([...grads, xb, yb]);
      disposeParams(params);
      return Object.fromEntries(names.map((n, i) => [n, out[i]]));
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    for (const n of Object.keys(cpu)) {
      // Conv biases: zero in exact arithmetic (batch norm removes the mean), so compare them to the scale of the kernel gradient.
      const ref = n.endsWith('/bias') && n.startsWith('conv') ? cpu[n.replace('bias', 'kernel')] : cpu[n];
      const scale = Math.max(...Array.from(ref, Math.abs));
      const diff = Math.max(...Array.from(cpu[n], (v, i) => Math.abs(v - wasm[n][i])));
      assert.ok(diff <= 1e-3 * scale, `${n}: max |wasm - cpu| ${diff} vs scale ${scale}`);
    }

    await tf.setBackend('wasm');
    let params = model.init(Rng.fromSeed(61));
    const optimizer = adam({ learningRate: 0.001, beta1: 0 });
    let state = optimizer.init(params);
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = trainStep(model, loss, optimizer, params, state, { x, y });
      losses.push(r.loss.dataSync()[0]);
      r.loss.dispose();
      disposeParams(params);
      disposeOptimizerState(state);
      params = r.params;
      state = r.state;
    }
    assert.equal(tf.memory().numTensors, before, 'training steps leak no tensors');
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[4] < 0.5 * losses[0], `loss fell: ${losses.map((l) => l.toFixed(3)).join(' -> ')}`);
    disposeParams(params);
    disposeOptimizerState(state);
    tf.dispose([x, y]);
  });
});
