/**
 * Joint training for classification (src/algorithms/joint-classification.ts) on a small
 * synthetic set of classes: its minibatches carry global labels (GlobalLabelBatches), the
 * C-way pre-training learns them, `params` is the N-way model (pre-trained body, zero last
 * layer), the same seed gives the same numbers, a checkpoint/restore continues exactly, and no
 * tensor leaks over many iterations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { cloneParams, disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam, cloneOptimizerState, sgd, type Optimizer, type OptimizerState } from '../src/nn/optimizers.js';
import type { Model } from '../src/nn/model.js';
import { JointClassification } from '../src/algorithms/joint-classification.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import { GlobalLabelBatches } from '../src/tasks/global-label-batches.js';
import { metaTrain } from '../src/train/meta-train.js';

await useBackend('wasm');

const DIM = 16;
const C = 8;
const WAYS = 5;
const PER_CLASS = 10;
const loss = crossEntropy('mean');

/** Class c: a random prototype plus small per-example noise, fixed by (c, index). */
function syntheticClasses(count = C, perClass = PER_CLASS): ExampleClass[] {
  return Array.from({ length: count }, (_, c) => {
    const protoRng = Rng.fromSeed(100 + c);
    const proto = Array.from({ length: DIM }, () => protoRng.normal());
    return {
      name: `class${c}`,
      count: perClass,
      image(index: number, out: Float32Array, offset: number) {
        const noise = Rng.fromSeed(10_000 + c * 1000 + index);
        for (let d = 0; d < DIM; d++) out[offset + d] = proto[d] + 0.3 * noise.normal();
      },
    };
  });
}

const classes = syntheticClasses();
const tasks = new FewShotClassification('synthetic', classes, [DIM], { ways: WAYS, trainShots: 5, shots: 1 });

function learner(model: Model, theta0: ParamSet, optimizer: Optimizer, stepsPerIteration = 4, batchSize = 16): JointClassification {
  return new JointClassification({ model, loss, layout: tasks }, theta0, { stepsPerIteration, batchSize, optimizer, batches: new GlobalLabelBatches(tasks.classes, [DIM]) });
}

async function flat(params: ParamSet): Promise<number[]> {
  return (await paramsToHost(params)).values.flatMap((v) => Array.from(v));
}

async function step(l: JointClassification, rng: Rng, times: number): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < times; i++) {
    const value = await l.metaStep([], 1, rng);
    losses.push(value);
  }
  return losses;
}

test('GlobalLabelBatches: each example carries its class index in the split as label, uniform over examples, fixed by the seed', () => {
  // Pixel value = class * 1000 + index: every example traces back to where it came from.
  const counts = [3, 1, 6];
  const coded: ExampleClass[] = counts.map((count, c) => ({
    name: `c${c}`,
    count,
    image: (index, out, offset) => out.fill(c * 1000 + index, offset, offset + 2),
  }));
  const batches = new GlobalLabelBatches(coded, [2]);
  assert.equal(batches.classCount, 3);
  const seen = new Map<string, number>();
  const draws = 20_000;
  const b = batches.sample(Rng.fromSeed(3), draws);
  assert.equal(b.count, draws);
  for (let n = 0; n < draws; n++) {
    const value = b.x[2 * n];
    assert.equal(b.x[2 * n + 1], value, 'the whole example is written');
    const [cls, index] = [Math.floor(value / 1000), value % 1000];
    assert.equal(b.y[n], cls, 'the label is the global class index');
    assert.ok(index < counts[cls], `index ${index} within class ${cls}`);
    seen.set(`${cls}/${index}`, (seen.get(`${cls}/${index}`) ?? 0) + 1);
  }
  assert.equal(seen.size, 10, 'every example of every class is drawn');
  // Uniform over the 10 examples: 2000 expected each, sd ~42.
  for (const [key, n] of seen) assert.ok(Math.abs(n - draws / 10) < 250, `${key} drawn ${n} times`);
  const again = batches.sample(Rng.fromSeed(3), draws);
  assert.deepEqual(Array.from(again.x), Array.from(b.x));
  assert.deepEqual(Array.from(again.y), Array.from(b.y));
  assert.throws(() => new GlobalLabelBatches(coded.slice(0, 1), [2]), /at least 2 classes/);
});

test('pre-training learns the C global labels (training accuracy far above chance); params are the N-way model with a zero last layer', async () => {
  const model = mlp([DIM, 32, WAYS]);
  const theta0 = model.init(Rng.fromSeed(1));
  const l = learner(model, theta0, adam({ learningRate: 0.01 }));
  const rng = Rng.fromSeed(2);
  const losses = await step(l, rng, 40);
  assert.ok(losses[39] < 0.5 * losses[0], `loss fell from ${losses[0]} to ${losses[39]}`);
  // A zero C-way layer predicts uniformly: the very first step's loss is ln C.
  const fresh = learner(model, theta0, adam({ learningRate: 0.01 }), 1);
  const [firstLoss] = await step(fresh, Rng.fromSeed(2), 1);
  fresh.dispose();
  assert.ok(Math.abs(firstLoss - Math.log(C)) < 1e-5, `first loss ${firstLoss} is ln ${C}`);

  // Accuracy on all C * PER_CLASS examples with the C-way layer.
  const all = new Float32Array(C * PER_CLASS * DIM);
  const labels: number[] = [];
  classes.forEach((cls, c) => {
    for (let i = 0; i < PER_CLASS; i++) {
      cls.image(i, all, (c * PER_CLASS + i) * DIM);
      labels.push(c);
    }
  });
  const x = tf.tensor2d(all, [C * PER_CLASS, DIM]);
  const logits = l.applyWide(x);
  assert.deepEqual(logits.shape, [C * PER_CLASS, C]);
  const predicted = Array.from(await logits.argMax(1).data());
  const accuracy = predicted.filter((p, i) => p === labels[i]).length / labels.length;
  assert.ok(accuracy >= 0.9, `training accuracy ${accuracy} over ${C} classes (chance ${1 / C})`);
  tf.dispose([x, logits]);

  // params: the model's names and shapes; the body is the pre-trained one, the last layer zeros.
  const init = model.init(Rng.fromSeed(9));
  assert.deepEqual(Object.keys(l.params), Object.keys(init));
  for (const n of Object.keys(init)) assert.deepEqual(l.params[n].shape, init[n].shape, n);
  assert.ok((await flat({ k: l.params['dense1/kernel'], b: l.params['dense1/bias'] })).every((v) => v === 0), 'the N-way last layer is zeros');
  const body0 = await flat({ k: theta0['dense0/kernel'] });
  const body = await flat({ k: l.params['dense0/kernel'] });
  assert.ok(body.some((v, i) => v !== body0[i]), 'the body was trained');
  disposeParams(init);
  l.dispose();
  disposeParams(theta0);
});

test('the CNN: the last dense layer (dense/*) is the one replaced, the conv body keeps its shapes', async () => {
  const model = conv({ variant: 'omniglot', inputShape: [8, 8, 1], classes: WAYS, filters: 4 });
  const theta0 = model.init(Rng.fromSeed(1));
  const image = new FewShotClassification('img', syntheticClasses(), [8, 8, 1], { ways: WAYS, trainShots: 2, shots: 1 });
  const l = new JointClassification({ model, loss, layout: image }, theta0, {
    stepsPerIteration: 1,
    batchSize: 4,
    optimizer: sgd({ learningRate: 0.1 }),
    batches: new GlobalLabelBatches(
      // 64 pixels per example from the 16-d synthetic features, repeated.
      image.classes.map((cls) => ({ ...cls, image: (i: number, out: Float32Array, off: number) => { const t = new Float32Array(DIM); cls.image(i, t, 0); for (let p = 0; p < 64; p++) out[off + p] = t[p % DIM]; } })),
      [8, 8, 1],
    ),
  });
  const states = l.optimizerStates();
  assert.deepEqual(Object.keys(states.head!.slots.params).sort(), ['dense/bias', 'dense/kernel']);
  assert.deepEqual(states.head!.slots.params['dense/kernel'].shape.at(-1), C);
  for (const n of Object.keys(theta0)) assert.deepEqual(l.params[n].shape, theta0[n].shape, n);
  await l.metaStep([], 1, Rng.fromSeed(4));
  l.dispose();
  disposeParams(theta0);
});

test('a converted functional tfjs-layers model: its output Dense layer is the one widened to C classes, and pre-training learns them', async () => {
  const input = tf.input({ shape: [DIM] });
  const hidden = tf.layers.dense({ units: 32, activation: 'relu', name: 'hidden' }).apply(input) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([hidden, input]) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: WAYS, name: 'out' }).apply(joined) as tf.SymbolicTensor;
  const model = fromLayersModel(tf.model({ inputs: input, outputs: output }));
  const theta0 = model.init(Rng.fromSeed(1));
  const l = learner(model, theta0, adam({ learningRate: 0.01 }));
  const states = l.optimizerStates();
  assert.deepEqual(Object.keys(states.head!.slots.params).sort(), ['out/bias', 'out/kernel']);
  assert.equal(states.head!.slots.params['out/kernel'].shape.at(-1), C);
  const losses = await step(l, Rng.fromSeed(2), 40);
  assert.ok(losses[39] < 0.5 * losses[0], `loss fell from ${losses[0]} to ${losses[39]}`);
  for (const n of Object.keys(theta0)) assert.deepEqual(l.params[n].shape, theta0[n].shape, n);
  l.dispose();
  disposeParams(theta0);
});

test('same seed, same numbers; a checkpoint (params + optimizerStates) restored into a new learner continues exactly', async () => {
  const model = mlp([DIM, 32, WAYS]);
  const theta0 = model.init(Rng.fromSeed(1));
  const run = async (iterations: number, rng: Rng) => {
    const l = learner(model, theta0, adam({ learningRate: 0.01, beta1: 0 }));
    const losses = await step(l, rng, iterations);
    return { l, losses };
  };
  const a = await run(6, Rng.fromSeed(5));
  const b = await run(6, Rng.fromSeed(5));
  assert.deepEqual(b.losses, a.losses);
  assert.deepEqual(await flat(b.l.params), await flat(a.l.params));
  b.l.dispose();

  // Stop after 3, copy what a checkpoint holds, restore into a fresh learner, do 3 more.
  const rng = Rng.fromSeed(5);
  const first = await run(3, rng);
  const saved = first.l.optimizerStates();
  const copies: Record<string, OptimizerState> = Object.fromEntries(Object.entries(saved).map(([k, s]) => [k, cloneOptimizerState(s!)]));
  const params = cloneParams(first.l.params);
  first.l.dispose();
  const resumed = learner(model, theta0, adam({ learningRate: 0.01, beta1: 0 }));
  resumed.setParams(params);
  resumed.restoreOptimizerStates(copies);
  const rest = await step(resumed, Rng.fromState(rng.state()), 3);
  assert.deepEqual([...first.losses, ...rest], a.losses, 'losses of the resumed run');
  assert.deepEqual(await flat(resumed.params), await flat(a.l.params), 'final params of the resumed run');
  resumed.dispose();
  a.l.dispose();
  disposeParams(theta0);
});

test('no tensor leak over 100 meta-iterations of the training loop (SGD and Adam)', async () => {
  const model = mlp([DIM, 32, WAYS]);
  for (const optimizer of [sgd({ learningRate: 0.05 }), adam({ learningRate: 0.001 })]) {
    const root = Rng.fromSeed(0);
    const theta0 = model.init(root.fork());
    const l = learner(model, theta0, optimizer, 3, 8);
    const streams = { tasks: root.fork(), batches: root.fork() };
    const options = { metaStep: 1, metaStepFinal: 1, evalInterval: 0 };
    await metaTrain(l, tasks, streams, { ...options, metaIters: 1 });
    const warm = tf.memory().numTensors;
    let maxSeen = warm;
    await metaTrain(l, tasks, streams, { ...options, metaIters: 101, startIteration: 1, onIteration: () => void (maxSeen = Math.max(maxSeen, tf.memory().numTensors)) });
    assert.equal(tf.memory().numTensors, warm, `${optimizer.name}: tensors after 100 meta-iterations`);
    assert.equal(maxSeen, warm, `${optimizer.name}: tensor count grew during training`);
    l.dispose();
    disposeParams(theta0);
  }
});
