/**
 * Converted tfjs-layers models whose architecture is exactly a fused kernel's (nn/kernel-equivalent.ts:
 * the MLP, and the CNN block family: any number of blocks, strides 1 and 2, 2x2 max-pools before or after the relu)
 * get that kernel from the factory (selectInnerLoop), and the kernel adapts them as the tfjs loop
 * does, to the tolerances of test/inner-loop-contract.test.ts (fused MLP 3e-5, lossSum 2e-6;
 * fused CNN 1e-4, lossSum 1e-5: its comment says why), with the model's own parameter names.
 * Near misses get the tfjs loop. A worker pool rebuilds a converted model from its spec in each
 * thread and gives the bits of this thread's loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHostSync } from '../src/core/params.js';
import { ParamStore } from '../src/core/param-store.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { crossEntropy, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, sgd, type Optimizer } from '../src/nn/optimizers.js';
import type { Model, ModelWithSpec } from '../src/nn/model.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { toLayersModel } from '../src/io/model-format.js';
import { selectInnerLoop } from '../src/algorithms/select-inner-loop.js';
import { TfjsLoop } from '../src/algorithms/tfjs-loop.js';
import { AdaptPool } from '../src/parallel/worker-pool.js';
import { lossSpec } from '../src/nn/losses.js';
import type { ExampleLayoutSource } from '../src/tasks/task.js';
import { assertOutcomesBitwise, assertOutcomesClose, makeJobs, settle, type Tolerance } from './support/contract-cases.js';

await useBackend('wasm');

const FUSED_MLP: Tolerance = { rtol: 3e-5, lossRtol: 2e-6 };
const FUSED_CNN: Tolerance = { rtol: 1e-4, lossRtol: 1e-5 };
const PLAN = { name: 'three tasks', steps: [3, 2, 4], batch: 3 };

/** A user's MLP, with names of their own. */
const userMlp = (sizes: number[], activation: 'relu' | 'tanh' | 'sigmoid', output = 'linear') =>
  tf.sequential({
    layers: sizes.slice(1).map((units, l) =>
      tf.layers.dense({ name: `my_layer_${l}`, units, activation: (l === sizes.length - 2 ? output : activation) as 'linear', ...(l === 0 ? { inputShape: [sizes[0]] } : {}) }),
    ),
  });

/** A block of a user's CNN: its conv's stride, and a max-pool (2x2 stride 2 unless `poolSize`) before or after the relu, or none. */
interface UserBlock {
  stride: 1 | 2;
  pool?: 'before-relu' | 'after-relu';
  poolSize?: number;
}

const OMNIGLOT_BLOCKS: UserBlock[] = [{ stride: 2 }, { stride: 2 }, { stride: 2 }, { stride: 2 }];

/** A user's CNN: blocks of [conv 3x3 same, batch norm, relu, maybe a max-pool] (default the Omniglot CNN's 4 of stride 2), flatten, dense. */
function userCnn(inputShape: number[], filters: number, classes: number, epsilon = 1e-3, blocks = OMNIGLOT_BLOCKS): tf.Sequential {
  const net = tf.sequential();
  for (const [l, b] of blocks.entries()) {
    const pool = () => tf.layers.maxPooling2d({ name: `p${l}`, poolSize: b.poolSize ?? 2, strides: 2, padding: 'same' });
    net.add(tf.layers.conv2d({ name: `c${l}`, filters, kernelSize: 3, strides: b.stride, padding: 'same', ...(l === 0 ? { inputShape } : {}) }));
    net.add(tf.layers.batchNormalization({ name: `n${l}`, epsilon }));
    if (b.pool === 'before-relu') net.add(pool());
    net.add(tf.layers.activation({ name: `a${l}`, activation: 'relu' }));
    if (b.pool === 'after-relu') net.add(pool());
  }
  net.add(tf.layers.flatten({ name: 'f' }));
  net.add(tf.layers.dense({ name: 'logits', units: classes }));
  return net;
}

interface Setting {
  name: string;
  model: Model;
  loss: LossFn;
  layout: ExampleLayoutSource;
  optimizer: Optimizer;
  expect: RegExp;
  tolerance?: Tolerance;
}

const classification = (inputShape: number[]): ExampleLayoutSource => ({ kind: 'classification', inputShape, targetShape: [] });
const convert = (m: tf.LayersModel) => {
  const model = fromLayersModel(m, { reinit: true });
  m.dispose();
  return model;
};

/** The library's own model as exported to model.json (another run's model/), converted back. */
function exported(model: ModelWithSpec): Model {
  const params = model.init(Rng.fromSeed(0));
  const layersModel = toLayersModel(model, params);
  disposeParams(params);
  return convert(layersModel);
}

const SETTINGS: Setting[] = [
  { name: 'relu MLP 7-5-3, cross-entropy, Adam', model: convert(userMlp([7, 5, 3], 'relu')), loss: crossEntropy(), layout: classification([7]), optimizer: adam({ learningRate: 0.01, beta1: 0.9 }), expect: /^fused-mlp$/, tolerance: FUSED_MLP },
  { name: 'tanh MLP 13-11-4, squared error (sum), SGD', model: convert(userMlp([13, 11, 4], 'tanh')), loss: meanSquaredError('sum'), layout: { kind: 'regression', inputShape: [13], targetShape: [4] }, optimizer: sgd({ learningRate: 0.01 }), expect: /^fused-mlp$/, tolerance: FUSED_MLP },
  { name: 'Omniglot-style CNN 17x17, 16 filters, 3 classes, SGD', model: convert(userCnn([17, 17, 1], 16, 3)), loss: crossEntropy(), layout: classification([17, 17, 1]), optimizer: sgd({ learningRate: 0.05 }), expect: /^fused-cnn-(native|wasm)$/, tolerance: FUSED_CNN },
  { name: "the library's MLP exported and converted back", model: exported(mlp([7, 5, 3])), loss: crossEntropy(), layout: classification([7]), optimizer: sgd({ learningRate: 0.1 }), expect: /^fused-mlp$/, tolerance: FUSED_MLP },
  { name: 'CNN of 3 blocks (stride 1, stride 2 with a max-pool after the relu, stride 1 with one before it), 11x8x3, 16 filters, momentum SGD', model: convert(userCnn([11, 8, 3], 16, 4, 1e-3, [{ stride: 1 }, { stride: 2, pool: 'after-relu' }, { stride: 1, pool: 'before-relu' }])), loss: crossEntropy(), layout: classification([11, 8, 3]), optimizer: sgd({ learningRate: 0.05, momentum: 0.9 }), expect: /^fused-cnn-(native|wasm)$/, tolerance: FUSED_CNN },
  { name: "the library's Mini-ImageNet CNN exported and converted back", model: exported(conv({ variant: 'miniimagenet', classes: 3, inputShape: [12, 10, 3], filters: 16 })), loss: crossEntropy(), layout: classification([12, 10, 3]), optimizer: sgd({ learningRate: 0.05 }), expect: /^fused-cnn-(native|wasm)$/, tolerance: FUSED_CNN },
  { name: "the library's Omniglot CNN exported and converted back", model: exported(conv({ variant: 'omniglot', classes: 3, inputShape: [17, 17, 1], filters: 16 })), loss: crossEntropy(), layout: classification([17, 17, 1]), optimizer: sgd({ learningRate: 0.05 }), expect: /^fused-cnn-(native|wasm)$/, tolerance: FUSED_CNN },
  // Near misses: a softmax on the output, a sigmoid, another batch-norm epsilon.
  { name: 'MLP with a softmax output (no kernel)', model: convert(userMlp([7, 5, 3], 'relu', 'softmax')), loss: crossEntropy(), layout: classification([7]), optimizer: sgd({ learningRate: 0.01 }), expect: /^tfjs$/ },
  { name: 'sigmoid MLP (no kernel)', model: convert(userMlp([7, 5, 3], 'sigmoid')), loss: crossEntropy(), layout: classification([7]), optimizer: sgd({ learningRate: 0.01 }), expect: /^tfjs$/ },
  { name: 'CNN with a 3x3 max-pool (no kernel)', model: convert(userCnn([12, 12, 1], 16, 3, 1e-3, [{ stride: 1, pool: 'before-relu', poolSize: 3 }, { stride: 1 }])), loss: crossEntropy(), layout: classification([12, 12, 1]), optimizer: sgd({ learningRate: 0.05 }), expect: /^tfjs$/ },
  { name: 'CNN with batch-norm epsilon 1e-2 (no kernel)', model: convert(userCnn([17, 17, 1], 16, 3, 1e-2)), loss: crossEntropy(), layout: classification([17, 17, 1]), optimizer: sgd({ learningRate: 0.05 }), expect: /^tfjs$/ },
];

for (const s of SETTINGS) {
  test(`${s.name}: the factory chooses ${s.expect.source}${s.tolerance ? ', which adapts as the tfjs loop does' : ''}`, async () => {
    const setup = { model: s.model, loss: s.loss, layout: s.layout };
    const loop = selectInnerLoop(setup, s.optimizer);
    assert.match(loop.name, s.expect);
    if (!s.tolerance) return;
    const theta = paramsToHostSync(s.model.init(Rng.fromSeed(1)));
    const run = async (impl: typeof loop) => settle(await impl.adaptTasks(ParamStore.ofHost(theta), undefined, makeJobs(s.layout, s.model.outputSize, PLAN, 2), { mode: 'common', keep: 'each' }));
    const [fused, reference] = [await run(loop), await run(new TfjsLoop(setup, s.optimizer))];
    assert.deepEqual(fused.each![0].names, theta.names, "the kernel returns the model's own parameter names");
    assertOutcomesClose(fused, reference, s.tolerance, s.name);
  });
}

test('a worker pool rebuilds a converted model from its spec in each thread and gives the bits of the loop in this thread', async () => {
  for (const s of [SETTINGS.find((x) => x.name.startsWith('sigmoid'))!, SETTINGS[2]]) {
    const setup = { model: s.model, loss: s.loss, layout: s.layout };
    const theta = paramsToHostSync(s.model.init(Rng.fromSeed(3)));
    const jobs = () => makeJobs(s.layout, s.model.outputSize, PLAN, 4);
    const local = settle(await selectInnerLoop(setup, s.optimizer).adaptTasks(ParamStore.ofHost(theta), undefined, jobs(), { mode: 'common', keep: 'mean' }));
    const pool = await AdaptPool.start(2, { backend: 'wasm', model: s.model.spec!, loss: lossSpec(s.loss)!, optimizer: { name: s.optimizer.name, config: s.optimizer.config }, layout: s.layout });
    try {
      const pooled = settle(await pool.adaptTasks(ParamStore.ofHost(theta), undefined, jobs(), { mode: 'common', keep: 'mean' }));
      assertOutcomesBitwise(pooled, local, `${s.name} on 2 threads`, { loss: false });
    } finally {
      await pool.close();
    }
  }
});
