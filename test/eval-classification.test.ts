/**
 * The few-shot classification evaluation protocol (src/eval/classification.ts, adapt.ts; the
 * original eval.py): an oracle scores exactly 100%, an untrained model about 1/N, adaptation uses
 * the support labels (and never the query), the meta-parameters are left unchanged and nothing
 * leaks, non-transductive prediction puts each query in a batch [support..., query] while
 * transductive prediction batches the queries together, and ci95 = 1.96 * std / sqrt(tasks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam, sgd } from '../src/nn/optimizers.js';
import type { Model, ModelSpec } from '../src/nn/model.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import type { EvalTask, Examples } from '../src/tasks/task.js';
import { adaptToSupport, adaptationBatchSize } from '../src/eval/adapt.js';
import { evaluateClassification, predictQueries, taskAccuracy } from '../src/eval/classification.js';

await useBackend('wasm');

const loss = crossEntropy('sum');
const FAKE_SPEC = { kind: 'mlp', sizes: [1, 1], activation: 'relu', init: 'tensorflow' } as ModelSpec;

async function hostValues(params: ParamSet): Promise<number[]> {
  return (await paramsToHost(params)).values.flatMap((v) => Array.from(v));
}

// ---------------------------------------------------------------------------------------------
// An oracle: input [label, flag]; it predicts the label when flag is 1 and label + 1 (mod N),
// i.e. wrongly, when flag is 0. Its one parameter enters as 0 * w, so gradients are zero and
// adaptation (any number of steps, SGD or Adam) cannot change what it predicts.

const WAYS = 5;

function oracleModel(ways = WAYS): Model {
  return {
    spec: FAKE_SPEC,
    inputShape: [2],
    outputSize: ways,
    batchStatistics: false,
    init: () => ({ w: tf.zeros([ways]) }),
    apply(params, x) {
      return tf.tidy(() => {
        const [label, flag] = tf.split(x.reshape([x.shape[0], 2]), 2, 1);
        const target = tf.mod(tf.add(label, tf.sub(1, flag)), ways).reshape([-1]);
        const logits = tf.mul(tf.oneHot(tf.cast(tf.round(target), 'int32') as tf.Tensor1D, ways), 10);
        return tf.add(logits, tf.mul(params.w, 0)) as tf.Tensor2D;
      });
    },
  };
}

const oracleLayout = { inputShape: [2], targetShape: [] as number[], kind: 'classification' as const, ways: WAYS, shots: 2 };

/** A task of WAYS classes in shuffled label order; `rightQueries` of the WAYS queries carry flag 1. */
function oracleTask(rng: Rng, shots: number, rightQueries: number): EvalTask {
  const examples = (labels: number[], flags: number[]): Examples => ({
    count: labels.length,
    x: Float32Array.from(labels.flatMap((l, i) => [l, flags[i]])),
    y: Int32Array.from(labels),
  });
  const supportLabels = rng.shuffle(Array.from({ length: WAYS * shots }, (_, i) => i % WAYS));
  const queryLabels = rng.permutation(WAYS);
  const flags = rng.shuffle(Array.from({ length: WAYS }, (_, i) => (i < rightQueries ? 1 : 0)));
  return { support: examples(supportLabels, supportLabels.map(() => 1)), query: examples(queryLabels, flags) };
}

test('an oracle scores exactly 100% (ci95 0), with or without adaptation, transductive or not', async () => {
  const model = oracleModel();
  const params = model.init(Rng.fromSeed(0));
  const settings = [
    { evalIters: 0, evalBatch: 5, optimizer: adam({ learningRate: 0.001, beta1: 0 }) },
    { evalIters: 3, evalBatch: 4, optimizer: adam({ learningRate: 0.001, beta1: 0 }) },
    { evalIters: 2, evalBatch: 10, optimizer: sgd({ learningRate: 0.5 }) },
  ];
  for (const setting of settings) {
    for (const transductive of [false, true]) {
      const r = await evaluateClassification(model, loss, oracleLayout, params, (rng) => oracleTask(rng, 2, WAYS), { ...setting, tasks: 20, transductive }, Rng.fromSeed(1));
      assert.deepEqual(r, { ways: WAYS, shots: 2, tasks: 20, accuracy: 1, ci95: 0, transductive, taskAccuracies: new Array(20).fill(1) }, JSON.stringify(setting));
    }
  }
  disposeParams(params);
});

test('accuracy is the mean over tasks of the fraction of queries right; ci95 = 1.96 * population std / sqrt(tasks)', async () => {
  const model = oracleModel();
  const params = model.init(Rng.fromSeed(0));
  // Task i gets rights[i] of its 5 queries right.
  const rights = [5, 3, 4, 0, 2, 5, 1, 4, 3, 5, 2];
  let i = 0;
  const sample = (rng: Rng) => oracleTask(rng, 1, rights[i++ % rights.length]);
  const r = await evaluateClassification(model, loss, { ...oracleLayout, shots: 1 }, params, sample, { evalIters: 1, evalBatch: 5, optimizer: sgd({ learningRate: 0.1 }), tasks: rights.length, transductive: false }, Rng.fromSeed(2));
  const accuracies = rights.map((k) => k / WAYS);
  const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
  const populationStd = Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / accuracies.length);
  const sampleStd = Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / (accuracies.length - 1));
  assert.ok(Math.abs(r.accuracy - mean) < 1e-12, `accuracy ${r.accuracy}, expected ${mean}`);
  assert.ok(Math.abs(r.ci95 - (1.96 * populationStd) / Math.sqrt(rights.length)) < 1e-12, `ci95 ${r.ci95}, expected ${(1.96 * populationStd) / Math.sqrt(rights.length)}`);
  assert.ok(Math.abs(r.ci95 - (1.96 * sampleStd) / Math.sqrt(rights.length)) > 1e-4, 'ci95 uses the population std (numpy default), not the sample std');
  assert.equal(r.tasks, rights.length);
  assert.equal(i, rights.length, 'one task sampled per evaluated task');
  // taskAccuracy alone: 3 of 5 right.
  const one = await taskAccuracy(model, loss, oracleLayout, params, oracleTask(Rng.fromSeed(3), 2, 3), { evalIters: 0, evalBatch: 5, optimizer: sgd({ learningRate: 0.1 }), transductive: true }, Rng.fromSeed(4));
  assert.equal(one, 3 / 5);
  disposeParams(params);
});

// ---------------------------------------------------------------------------------------------
// Synthetic image classes: class c's examples are a one-hot at dimension c plus a little noise,
// so a linear model adapted on the support set separates them if the labels line up.

const DIM = 12;

function prototypeClasses(classes: number, count: number, seed: number): ExampleClass[] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: classes }, (_, c) => {
    const images = Array.from({ length: count }, () => Float32Array.from({ length: DIM }, (_, d) => (d === c ? 1 : 0) + 0.05 * rng.normal()));
    return { name: `proto${c}`, count, image: (i: number, out: Float32Array, offset: number) => out.set(images[i], offset) };
  });
}

const protoTasks = new FewShotClassification('prototypes', prototypeClasses(DIM, 6, 9), [DIM], { ways: WAYS, trainShots: 4, shots: 1 });

test('an untrained model scores about 1/N over many tasks (within the confidence interval)', async (t) => {
  const model = mlp([DIM, 16, WAYS]);
  const params = model.init(Rng.fromSeed(5));
  for (const evalIters of [0, 2]) {
    const r = await evaluateClassification(model, loss, protoTasks, params, (rng) => protoTasks.sampleEvalTask(rng), { evalIters, evalBatch: 5, optimizer: sgd({ learningRate: 1e-7 }), tasks: 300, transductive: false }, Rng.fromSeed(6));
    t.diagnostic(`untrained, evalIters ${evalIters}: ${r.accuracy.toFixed(4)} +- ${r.ci95.toFixed(4)} over ${r.tasks} tasks`);
    assert.ok(r.ci95 > 0 && r.ci95 < 0.06, `ci95 ${r.ci95}`);
    assert.ok(Math.abs(r.accuracy - 1 / WAYS) < 2.5 * r.ci95, `untrained (evalIters ${evalIters}): ${r.accuracy} +- ${r.ci95}, chance is ${1 / WAYS}`);
  }
  disposeParams(params);
});

test('adaptation learns the support labels and the query is scored against the same labels', async (t) => {
  // A linear model and a few SGD steps on 1 example per class: separable, so near 100%
  // if and only if the support and query labels agree and the adapted weights make the predictions.
  const model = mlp([DIM, WAYS]);
  const params = model.init(Rng.fromSeed(7));
  const r = await evaluateClassification(model, loss, protoTasks, params, (rng) => protoTasks.sampleEvalTask(rng), { evalIters: 20, evalBatch: 5, optimizer: sgd({ learningRate: 0.5 }), tasks: 40, transductive: false }, Rng.fromSeed(8));
  t.diagnostic(`adapted linear model: ${r.accuracy.toFixed(4)} +- ${r.ci95.toFixed(4)}`);
  assert.ok(r.accuracy > 0.9, `adapted accuracy ${r.accuracy}`);
  disposeParams(params);
});

test('the meta-parameters are unchanged after evaluation and no tensors leak (every path)', async () => {
  const models: [string, Model][] = [
    ['mlp', mlp([DIM, 8, WAYS])],
    ['batch-statistics', batchMeanModel(DIM, WAYS)],
  ];
  for (const [name, model] of models) {
    const params = model.init(Rng.fromSeed(10));
    const before = await hostValues(params);
    const run = (evalIters: number, transductive: boolean, tasks = 3) =>
      evaluateClassification(model, loss, protoTasks, params, (rng) => protoTasks.sampleEvalTask(rng), { evalIters, evalBatch: 3, optimizer: adam({ learningRate: 0.1, beta1: 0 }), tasks, transductive }, Rng.fromSeed(11));
    await run(2, false, 1); // warm-up: kernels and backend buffers made on first use are not leaks
    await run(2, true, 1);
    const tensors = tf.memory().numTensors;
    for (const evalIters of [0, 1, 4]) {
      for (const transductive of [false, true]) {
        await run(evalIters, transductive);
        assert.equal(tf.memory().numTensors, tensors, `${name}, evalIters ${evalIters}, transductive ${transductive}: tensors leaked`);
        for (const p of Object.values(params)) assert.ok(!p.isDisposed, `${name}, evalIters ${evalIters}: a meta-parameter was disposed`);
        assert.deepEqual(await hostValues(params), before, `${name}, evalIters ${evalIters}, transductive ${transductive}: meta-parameters changed`);
      }
    }
    disposeParams(params);
  }
});

test('adaptation starts from the meta-parameters with a fresh optimizer, on minibatches of the support set only', async () => {
  // A spy model: logits x W; records every batch it sees (as rows of input values).
  const seen: number[][][] = [];
  const base = mlp([DIM, WAYS]);
  const spy: Model = { ...base, apply: (params, x, options) => (seen.push(x.arraySync() as number[][]), base.apply(params, x, options)) };
  const params = base.init(Rng.fromSeed(12));
  const task = new FewShotClassification('prototypes', prototypeClasses(DIM, 6, 13), [DIM], { ways: WAYS, trainShots: 4, shots: 3 }).sampleEvalTask(Rng.fromSeed(14));
  const rows = (e: Examples) => Array.from({ length: e.count }, (_, i) => Array.from(e.x.subarray(i * DIM, (i + 1) * DIM)).join(','));
  const supportRows = rows(task.support);
  const queryRows = new Set(rows(task.query));
  const lr = 0.01;
  const steps: number[][] = [];
  const adapted = (await adaptToSupport(spy, loss, protoTasks, params, task.support, { evalIters: 6, evalBatch: 5, optimizer: adam({ learningRate: lr, beta1: 0 }) }, Rng.fromSeed(15), (step, p) => {
    steps.push([step, ...(p['dense0/kernel'].dataSync() as Float32Array)]);
  })).device;
  // Six batches of 5 from the 15 support examples: two passes over a shuffle, each example once per pass.
  assert.equal(seen.length, 6);
  const batches = seen.map((b) => b.map((r) => Array.from(Float32Array.from(r)).join(',')));
  for (const batch of batches) {
    assert.equal(batch.length, 5, 'evalBatch examples per step');
    for (const r of batch) assert.ok(!queryRows.has(r), 'a query example was used for adaptation');
  }
  assert.deepEqual(batches.slice(0, 3).flat().sort(), [...supportRows].sort(), 'the first pass is a permutation of the support set');
  assert.deepEqual(batches.slice(3, 6).flat().sort(), [...supportRows].sort(), 'the second pass is a permutation of the support set');
  // Step 0 is the meta-parameters; the first step of a fresh Adam (beta1 0, TF1's form) moves
  // every weight with a non-zero gradient by lr * g / (|g| + eps) ~ lr.
  const initial = await hostValues({ k: params['dense0/kernel'] });
  assert.deepEqual(steps[0].slice(1), initial);
  const moved = steps[1].slice(1).map((v, j) => Math.abs(v - initial[j]));
  assert.ok(moved.filter((d) => d > 0).every((d) => Math.abs(d - lr) < 1e-4), `first step sizes ${moved.slice(0, 8)}`);
  assert.equal(steps.length, 7);
  disposeParams(adapted);
  // The same again gives the same adapted parameters: no optimizer state carried over.
  const again = (await adaptToSupport(base, loss, protoTasks, params, task.support, { evalIters: 6, evalBatch: 5, optimizer: adam({ learningRate: lr, beta1: 0 }) }, Rng.fromSeed(15))).device;
  const first = (await adaptToSupport(base, loss, protoTasks, params, task.support, { evalIters: 6, evalBatch: 5, optimizer: adam({ learningRate: lr, beta1: 0 }) }, Rng.fromSeed(15))).device;
  assert.deepEqual(await hostValues(again), await hostValues(first));
  disposeParams(again);
  disposeParams(first);
  disposeParams(params);
});

test('an adaptation minibatch is at most the support set: evalBatch 0 or larger than it gives the whole support set each step, no example twice', async () => {
  const seen: string[][] = [];
  const base = mlp([DIM, WAYS]);
  const spy: Model = { ...base, apply: (params, x, options) => (seen.push((x.arraySync() as number[][]).map((r) => Array.from(Float32Array.from(r)).join(','))), base.apply(params, x, options)) };
  const params = base.init(Rng.fromSeed(16));
  const task = new FewShotClassification('prototypes', prototypeClasses(DIM, 6, 13), [DIM], { ways: WAYS, trainShots: 4, shots: 1 }).sampleEvalTask(Rng.fromSeed(17));
  const supportRows = Array.from({ length: task.support.count }, (_, i) => Array.from(task.support.x.subarray(i * DIM, (i + 1) * DIM)).join(',')).sort();
  const sgdStep = { optimizer: sgd({ learningRate: 0.1 }), evalIters: 3 };
  const adapted: ParamSet[] = [];
  for (const evalBatch of [0, 5, 10, 12]) {
    seen.length = 0;
    adapted.push((await adaptToSupport(spy, loss, protoTasks, params, task.support, { ...sgdStep, evalBatch }, Rng.fromSeed(18))).device);
    assert.equal(seen.length, 3, `evalBatch ${evalBatch}: one batch per step`);
    for (const batch of seen) assert.deepEqual([...batch].sort(), supportRows, `evalBatch ${evalBatch}: each step is the 5 support examples, each once`);
  }
  assert.equal(adaptationBatchSize(0, 25), 25);
  assert.equal(adaptationBatchSize(10, 25), 10);
  assert.equal(adaptationBatchSize(10, 5), 5);
  // With the sum of losses, SGD on the support set twice over would take twice the step; capped, every setting takes the same one.
  const values = await Promise.all(adapted.map(hostValues));
  for (const v of values.slice(1)) v.forEach((x, j) => assert.ok(Math.abs(x - values[0][j]) < 1e-6, `weight ${j}: ${x} vs ${values[0][j]}`));
  adapted.forEach(disposeParams);
  disposeParams(params);
});

// ---------------------------------------------------------------------------------------------
// A batch-statistics model: logits = x - mean over the batch of x (what batch norm's centring
// does), so a query's prediction depends on what else is in its batch.

function batchMeanModel(inputSize: number, ways: number): Model {
  return {
    spec: FAKE_SPEC,
    inputShape: [inputSize],
    outputSize: ways,
    batchStatistics: true,
    init: () => ({ w: tf.zeros([ways]) }),
    apply(params, x) {
      return tf.tidy(() => {
        const h = tf.slice(x.reshape([x.shape[0], inputSize]), [0, 0], [-1, ways]);
        return tf.add(tf.sub(h, tf.mean(h, 0, true)), params.w) as tf.Tensor2D;
      });
    },
  };
}

const argmax = (v: number[]) => v.indexOf(Math.max(...v));
const columnMean = (rows: number[][]) => rows[0].map((_, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length);

test('non-transductive: each query predicted in a batch [support..., query]; transductive: the queries in one batch (hand computation)', async () => {
  const ways = 4;
  const model = batchMeanModel(ways, ways);
  const params = model.init(Rng.fromSeed(0));
  const rng = Rng.fromSeed(21);
  let differ = 0;
  for (let trial = 0; trial < 20; trial++) {
    const supportRows = Array.from({ length: 6 }, () => Array.from({ length: ways }, () => rng.uniform(-3, 3)));
    const queryRows = Array.from({ length: ways }, () => Array.from({ length: ways }, () => rng.uniform(-3, 3)));
    const support = tf.tensor2d(supportRows);
    const query = tf.tensor2d(queryRows);
    const nonTransductive = predictQueries(model, params, support, query, false);
    const transductive = predictQueries(model, params, support, query, true);
    const expectedNon = queryRows.map((q) => {
      const m = columnMean([...supportRows, q].map((r) => r.map(Math.fround)));
      return argmax(q.map((v, j) => Math.fround(v) - m[j]));
    });
    const mq = columnMean(queryRows.map((r) => r.map(Math.fround)));
    const expectedTrans = queryRows.map((q) => argmax(q.map((v, j) => Math.fround(v) - mq[j])));
    assert.equal(nonTransductive.dtype, 'int32');
    assert.deepEqual(Array.from(await nonTransductive.data()), expectedNon, `trial ${trial}: non-transductive`);
    assert.deepEqual(Array.from(await transductive.data()), expectedTrans, `trial ${trial}: transductive`);
    if (expectedNon.some((p, i) => p !== expectedTrans[i])) differ++;
    tf.dispose([support, query, nonTransductive, transductive]);
  }
  assert.ok(differ > 0, 'the trials should include cases where the two modes disagree');
  disposeParams(params);
});

test('without batch statistics both modes predict each query from itself alone', async () => {
  const model = mlp([3, 5, 3]);
  const params = model.init(Rng.fromSeed(30));
  const support = tf.randomNormal([4, 3], 0, 1, 'float32', 1);
  const query = tf.randomNormal([6, 3], 0, 1, 'float32', 2);
  const a = predictQueries(model, params, support, query, false);
  const b = predictQueries(model, params, support, query, true);
  const alone = tf.argMax(model.apply(params, query), -1);
  assert.deepEqual(Array.from(await a.data()), Array.from(await alone.data()));
  assert.deepEqual(Array.from(await b.data()), Array.from(await alone.data()));
  tf.dispose([support, query, a, b, alone]);
  disposeParams(params);
});

test('evaluation of a batch-statistics model: the two modes score as the hand computation says', async () => {
  // 2-way, 1 shot. Support: class 0 at [4, 0], class 1 at [0, 4]. Queries: label 0 at [1, 0.5],
  // label 1 at [1.2, 0.9]. Transductive: batch mean of the queries [1.1, 0.7]; query 0 ->
  // [-0.1, -0.2] -> 0 (right), query 1 -> [0.1, 0.2] -> 1 (right): accuracy 1.
  // Non-transductive: batch [4,0],[0,4],q: query 0 mean [5/3, 1.5] -> [-0.67, -1] -> 0 (right);
  // query 1 mean [1.733, 1.633] -> [-0.533, -0.733] -> 0 (wrong): accuracy 0.5.
  const model = batchMeanModel(2, 2);
  const params = model.init(Rng.fromSeed(0));
  const task: EvalTask = {
    support: { count: 2, x: Float32Array.from([4, 0, 0, 4]), y: Int32Array.from([0, 1]) },
    query: { count: 2, x: Float32Array.from([1, 0.5, 1.2, 0.9]), y: Int32Array.from([0, 1]) },
  };
  const layout = { inputShape: [2], targetShape: [] as number[], kind: 'classification' as const, ways: 2, shots: 1 };
  const options = { evalIters: 0, evalBatch: 2, optimizer: sgd({ learningRate: 0.1 }), tasks: 3 };
  const non = await evaluateClassification(model, loss, layout, params, () => task, { ...options, transductive: false }, Rng.fromSeed(1));
  const trans = await evaluateClassification(model, loss, layout, params, () => task, { ...options, transductive: true }, Rng.fromSeed(1));
  assert.equal(non.accuracy, 0.5);
  assert.equal(non.transductive, false);
  assert.equal(trans.accuracy, 1);
  assert.equal(trans.transductive, true);
  disposeParams(params);
});
