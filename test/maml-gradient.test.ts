/**
 * MAML's meta-gradient against central finite differences of the meta-loss, on the sine MLP
 * (tanh) and on a small Omniglot-style CNN (conv, batch norm with batch statistics, ReLU).
 *
 * The finite differences are taken along a direction: d/dh L(theta + h v) at h = 0, where L is
 * the final minibatch's loss after k - 1 plain SGD steps, computed with the ordinary
 * (first-order) training step, a path independent of the differentiated one. v is the
 * normalised difference between the exact and the first-order meta-gradients, the direction in
 * which dropping the second-order terms shows most, and a random direction. float32 limits the
 * finite differences to about 1e-4 absolute here, so the models are small and the inner rate is
 * large enough that the second-order terms are far bigger than that.
 */
import { test } from 'node:test';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy } from '../src/nn/losses.js';
import { batchOf, checkProblem, sineProblem, type Problem } from './support/maml-finite-differences.js';

await useBackend('wasm');

/** A CNN problem: 3-way, 2 adaptation minibatches and a final one of 6 random images each. */
function convProblem(variant: 'omniglot' | 'miniimagenet', inputShape: number[], seed: number): Problem {
  const rng = Rng.fromSeed(seed);
  const model = conv({ variant, classes: 3, inputShape, filters: 3 });
  const size = inputShape.reduce((a, b) => a * b, 1);
  const images = (n: number) => {
    const xs = Array.from({ length: n }, () => Array.from({ length: size }, () => rng.float()));
    return batchOf(xs, xs.map((_, i) => i % 3), inputShape, 'classification');
  };
  return { model, loss: crossEntropy('sum'), theta: model.init(rng), adaptation: [images(6), images(6)], final: images(6), lr: 0.03 };
}

test('MAML meta-gradient matches finite differences on the sine MLP (tanh, 3 adaptation steps); first-order does not', async () => {
  await checkProblem(sineProblem(mlp([1, 8, 8, 1], { activation: 'tanh', init: 'pytorch' }), 3), 1e-2, (x) => 2e-3 + 5e-3 * Math.abs(x));
});

// ReLU makes the adapted weights jump where a pre-activation changes sign (the inner gradient
// is discontinuous there), so the step h is small enough that no kink lies within +- h along
// these (seeded) directions: halving h changes no finite difference by more than 1e-3 here.
test('MAML meta-gradient matches finite differences on a CNN with batch norm (2 adaptation steps); first-order does not', async () => {
  await checkProblem(convProblem('omniglot', [8, 8, 1], 4), 2e-3, (x) => 1e-2 + 1e-2 * Math.abs(x));
});

// The Mini-ImageNet network: stride-1 convs, batch norm, 2x2 max-pooling ('same': 9 -> 5 -> 3 ->
// 2 -> 1, odd sizes padded), ReLU. Max-pooling's second derivative comes from nn/second-order.ts.
// A window's maximum changing hands makes the adapted weights jump as ReLU's kinks do, and more
// often: at h = 2e-3 or 5e-4 some of these directions cross one (finite differences of 4-25
// against gradients of 1-3); at h = 1e-4 none does, and float32 rounding allows about 0.03.
test('MAML meta-gradient matches finite differences on the max-pooling CNN (2 adaptation steps); first-order does not', async () => {
  await checkProblem(convProblem('miniimagenet', [9, 9, 2], 5), 1e-4, (x) => 4e-2 + 1e-2 * Math.abs(x));
});
