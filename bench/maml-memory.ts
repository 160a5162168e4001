/**
 * Memory and time of one task's meta-gradient against the number of inner steps k: MAML (second
 * order, the whole inner loop taped), FOMAML and Reptile (k optimizer steps, each step's
 * intermediates freed before the next). Peak memory is tf.profile's peakBytes over the call,
 * minus what was allocated before it (parameters and batches), so it is what the algorithm adds.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/maml-memory.js [--steps 1,2,3,5,10] [--repeats 5] [--models sine,mlp,conv] [--json]
 */
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import type { Model } from '../src/nn/model.js';
import { sgd, disposeOptimizerState } from '../src/nn/optimizers.js';
import { trainStep, type Batch } from '../src/algorithms/inner-loop.js';
import { mamlMetaGradient } from '../src/algorithms/maml.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '1,2,3,5,10' },
    repeats: { type: 'string', default: '5' },
    models: { type: 'string', default: 'sine,mlp,conv' },
    json: { type: 'boolean', default: false },
  },
});
const stepCounts = values.steps.split(',').map(Number);
const repeats = Number(values.repeats);

interface Setup {
  name: string;
  model: Model;
  loss: LossFn;
  batch: () => Batch;
}

function setups(rng: Rng): Setup[] {
  const classification = (inputShape: number[]) => () => ({
    x: tf.tensor(Float32Array.from({ length: 10 * inputShape.reduce((a, b) => a * b, 1) }, () => rng.float()), [10, ...inputShape]),
    y: tf.tensor(Int32Array.from({ length: 10 }, (_, i) => i % 5), [10], 'int32'),
  });
  const all: Record<string, Setup> = {
    sine: {
      name: 'sine MLP 1-64-64-1 (tanh), batch 10',
      model: mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' }),
      loss: meanSquaredError(),
      batch: () => ({ x: tf.tensor(Float32Array.from({ length: 10 }, () => rng.uniform(-5, 5)), [10, 1]), y: tf.tensor(Float32Array.from({ length: 10 }, () => rng.normal()), [10, 1]) }),
    },
    mlp: { name: 'Omniglot MLP 784-64-64-5 (ReLU), batch 10', model: mlp([784, 64, 64, 5]), loss: crossEntropy('sum'), batch: classification([784]) },
    conv: { name: 'Omniglot CNN 4 x conv64 + BN, batch 10', model: conv({ variant: 'omniglot', classes: 5 }), loss: crossEntropy('sum'), batch: classification([28, 28, 1]) },
  };
  return values.models.split(',').map((m) => all[m]);
}

interface Row {
  model: string;
  algorithm: string;
  k: number;
  peakMiB: number;
  msPerTask: number;
}

async function measure(fn: () => void): Promise<{ peakBytes: number; ms: number }> {
  fn(); // warm-up (kernel setup, first allocations)
  const start = tf.memory().numBytes;
  const info = await tf.profile(fn);
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return { peakBytes: info.peakBytes - start, ms: (performance.now() - t0) / repeats };
}

await useBackend('wasm');
const rng = Rng.fromSeed(0);
const rows: Row[] = [];
const optimizer = sgd({ learningRate: 0.01 });
for (const setup of setups(rng)) {
  const theta = setup.model.init(rng);
  for (const k of stepCounts) {
    const batches = Array.from({ length: k }, setup.batch);
    const adaptation = batches.slice(0, -1);
    const final = batches[k - 1];
    const maml = await measure(() => {
      const r = mamlMetaGradient(setup.model, setup.loss, optimizer, theta, adaptation, final);
      disposeParams(r.grads);
      tf.dispose([r.metaLoss, r.adaptationLossSum]);
    });
    // FOMAML's and Reptile's task cost: k ordinary steps (FOMAML keeps the last step apart).
    const firstOrder = await measure(() => {
      // The tfjs inner loop's steps (src/algorithms/tfjs-loop.ts), each step's inputs freed after it.
      let a = { params: theta, state: optimizer.init(theta) };
      for (const batch of [...adaptation, final]) {
        const step = trainStep(setup.model, setup.loss, optimizer, a.params, a.state, batch);
        if (a.params !== theta) disposeParams(a.params);
        disposeOptimizerState(a.state);
        step.loss.dispose();
        a = step;
      }
      disposeParams(a.params);
      disposeOptimizerState(a.state);
    });
    rows.push({ model: setup.name, algorithm: 'maml', k, peakMiB: maml.peakBytes / 2 ** 20, msPerTask: maml.ms });
    rows.push({ model: setup.name, algorithm: 'fomaml / reptile', k, peakMiB: firstOrder.peakBytes / 2 ** 20, msPerTask: firstOrder.ms });
    batches.forEach((b) => tf.dispose([b.x, b.y]));
  }
  disposeParams(theta);
}

if (values.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log('| model | k (minibatches per task) | MAML peak MiB | FOMAML/Reptile peak MiB | MAML ms/task | FOMAML/Reptile ms/task |');
  console.log('|---|---|---|---|---|---|');
  for (let i = 0; i < rows.length; i += 2) {
    const [m, f] = [rows[i], rows[i + 1]];
    console.log(`| ${m.model} | ${m.k} | ${m.peakMiB.toFixed(2)} | ${f.peakMiB.toFixed(2)} | ${m.msPerTask.toFixed(1)} | ${f.msPerTask.toFixed(1)} |`);
  }
}
