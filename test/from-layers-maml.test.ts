/**
 * Second-order MAML on converted tfjs-layers models (nn/from-layers-model.ts): the meta-gradient
 * against finite differences (test/support/maml-finite-differences.ts, the method of
 * test/maml-gradient.test.ts), through each converted layer and activation; and the refusal of
 * the one layer whose second derivative is not implemented (overlapping max-pooling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { crossEntropy } from '../src/nn/losses.js';
import { sgd } from '../src/nn/optimizers.js';
import { Maml, mamlMetaGradient } from '../src/algorithms/maml.js';
import { batchOf, checkProblem, disposeProblem, sineProblem, type Problem } from './support/maml-finite-differences.js';

await useBackend('wasm');

/** A classification problem on a converted model: 2 adaptation minibatches and a final one of 6 random inputs, 3 classes. */
function classification(layersModel: tf.LayersModel, seed: number, lr: number): Problem {
  const rng = Rng.fromSeed(seed);
  const model = fromLayersModel(layersModel, { reinit: true });
  layersModel.dispose();
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const batch = () => {
    const xs = Array.from({ length: 6 }, () => Array.from({ length: size }, () => rng.uniform(-1, 1)));
    return batchOf(xs, xs.map((_, i) => i % 3), model.inputShape, 'classification');
  };
  return { model, loss: crossEntropy('sum'), theta: model.init(rng), adaptation: [batch(), batch()], final: batch(), lr };
}

test('converted Dense-tanh-Dense: MAML meta-gradient matches finite differences; first-order does not', async () => {
  const model = fromLayersModel(tf.sequential({ layers: [tf.layers.dense({ inputShape: [1], units: 8, activation: 'tanh' }), tf.layers.dense({ units: 1 })] }), { reinit: true });
  await checkProblem(sineProblem(model, 3), 1e-2, (x) => 2e-3 + 5e-3 * Math.abs(x));
});

// ReLU and max-pooling kinks: a small step, as for the library's max-pooling CNN (test/maml-gradient.test.ts).
test('converted Conv2D-BatchNormalization-MaxPooling2D-relu-Dense: MAML meta-gradient matches finite differences', async () => {
  const net = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  });
  await checkProblem(classification(net, 5, 0.03), 1e-4, (x) => 4e-2 + 1e-2 * Math.abs(x));
});

test('converted functional model (sigmoid, elu, softplus, softmax, Add, Concatenate, strided conv, overlapping average pooling, global pooling): MAML matches finite differences', async () => {
  const input = tf.input({ shape: [5, 5, 2] });
  const conv = tf.layers.conv2d({ filters: 3, kernelSize: 2, strides: 1, padding: 'valid', activation: 'sigmoid' }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(conv) as tf.SymbolicTensor;
  const features = tf.layers.globalAveragePooling2d({}).apply(pooled) as tf.SymbolicTensor;
  const a = tf.layers.dense({ units: 4, activation: 'elu' }).apply(features) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 4, activation: 'softplus' }).apply(features) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([sum, features]) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(joined) as tf.SymbolicTensor;
  await checkProblem(classification(tf.model({ inputs: input, outputs: output }), 6, 2), 1e-2, (x) => 2e-3 + 5e-3 * Math.abs(x));
});

test('MAML refuses a model with overlapping max-pooling (its second derivative is not implemented), naming the layer; first order still works', async () => {
  const net = tf.sequential({
    layers: [tf.layers.maxPooling2d({ inputShape: [6, 6, 1], poolSize: 3, strides: 2, name: 'overlapping' }), tf.layers.flatten(), tf.layers.dense({ units: 3 })],
  });
  const p = classification(net, 7, 0.1);
  assert.match(p.model.secondOrderUnsupported ?? '', /layer 'overlapping' \(MaxPooling2D\).*non-overlapping/);
  const setup = { model: p.model, loss: p.loss, layout: { kind: 'classification' as const, inputShape: [6, 6, 1], targetShape: [] } };
  const options = { innerIters: 2, innerBatch: 3, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.1 }) };
  assert.throws(() => new Maml(setup, p.theta, options), /^Error: second-order MAML cannot differentiate this model exactly: layer 'overlapping' \(MaxPooling2D\) has poolSize 3x3 with strides 2x2/);
  assert.throws(() => mamlMetaGradient(p.model, p.loss, sgd({ learningRate: 0.1 }), p.theta, p.adaptation, p.final), /overlapping/);
  const first = mamlMetaGradient(p.model, p.loss, sgd({ learningRate: 0.1 }), p.theta, p.adaptation, p.final, { firstOrder: true });
  assert.ok(Number.isFinite((await first.metaLoss.data())[0]));
  disposeParams(first.grads);
  tf.dispose([first.metaLoss, first.adaptationLossSum]);
  disposeProblem(p);
});
