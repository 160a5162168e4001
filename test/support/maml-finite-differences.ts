/**
 * MAML's meta-gradient against central finite differences of the meta-loss (test/maml-gradient.test.ts
 * explains the method and the tolerances), shared by the tests of the library's models and of
 * converted tfjs-layers models.
 */
import assert from 'node:assert/strict';
import { tf } from '../../src/core/tf.js';
import { Rng } from '../../src/core/rng.js';
import { disposeParams, mapParams, paramsToHost, type ParamSet } from '../../src/core/params.js';
import { meanSquaredError, type LossFn } from '../../src/nn/losses.js';
import type { Model } from '../../src/nn/model.js';
import { sgd } from '../../src/nn/optimizers.js';
import { batchLoss, type Batch } from '../../src/algorithms/inner-loop.js';
import { mamlMetaGradient } from '../../src/algorithms/maml.js';
import { adapt } from './tfjs-adapt.js';

export interface Problem {
  model: Model;
  loss: LossFn;
  theta: ParamSet;
  adaptation: Batch[];
  final: Batch;
  lr: number;
}

/** L(theta): the final minibatch's loss after the SGD steps, by the ordinary training step. */
function metaLoss(p: Problem, theta: ParamSet): number {
  // The composed update (float32 ops, as under the tape), not the fused kernel (float64 per
  // element): with ReLU and max-pooling kinks, rounding differences can move a kink within +- h.
  const optimizer = sgd({ learningRate: p.lr, fused: false });
  const adapted = adapt(p.model, p.loss, optimizer, theta, optimizer.init(theta), p.adaptation);
  const value = batchLoss(p.model, p.loss, adapted.params, p.final);
  const out = value.dataSync()[0];
  value.dispose();
  adapted.lossSum.dispose();
  disposeParams(adapted.params);
  return out;
}

async function flat(params: ParamSet): Promise<Float64Array> {
  const host = await paramsToHost(params);
  return Float64Array.from(host.values.flatMap((v) => Array.from(v)));
}

function unflatten(like: ParamSet, values: Float64Array): ParamSet {
  let offset = 0;
  return mapParams(like, (p) => {
    const t = tf.tensor(Float32Array.from(values.subarray(offset, offset + p.size)), p.shape, 'float32');
    offset += p.size;
    return t;
  });
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a: Float64Array) => Math.sqrt(dot(a, a));

/** Central difference of L along v (unit), with step h. */
function directional(p: Problem, theta: Float64Array, v: Float64Array, h: number): number {
  const at = (s: number) => {
    const params = unflatten(p.theta, theta.map((x, i) => x + s * v[i]));
    const value = metaLoss(p, params);
    disposeParams(params);
    return value;
  };
  return (at(h) - at(-h)) / (2 * h);
}

interface Comparison {
  direction: string;
  fd: number;
  exact: number;
  firstOrder: number;
}

/**
 * Directional derivatives along a random direction over all parameters and, for each parameter
 * tensor, a random direction within it (so every tensor's gradient is checked, the conv kernels'
 * through the registered Conv2DBackpropFilter gradient among them).
 */
export async function compare(p: Problem, h: number): Promise<Comparison[]> {
  const exact = mamlMetaGradient(p.model, p.loss, sgd({ learningRate: p.lr }), p.theta, p.adaptation, p.final);
  const first = mamlMetaGradient(p.model, p.loss, sgd({ learningRate: p.lr }), p.theta, p.adaptation, p.final, { firstOrder: true });
  const gExact = await flat(exact.grads);
  const gFirst = await flat(first.grads);
  const lossValue = (await exact.metaLoss.data())[0];
  for (const r of [exact, first]) {
    disposeParams(r.grads);
    r.metaLoss.dispose();
    r.adaptationLossSum.dispose();
  }
  const theta = await flat(p.theta);
  assert.ok(Math.abs(lossValue - metaLoss(p, p.theta)) < 1e-4 * Math.max(1, Math.abs(lossValue)), 'the differentiated meta-loss equals the ordinary one');
  const rng = Rng.fromSeed(7);
  const directions: [string, Float64Array][] = [['all parameters', Float64Array.from(theta, () => rng.normal())]];
  let offset = 0;
  for (const [name, t] of Object.entries(p.theta)) {
    const v = new Float64Array(theta.length);
    for (let i = offset; i < offset + t.size; i++) v[i] = rng.normal();
    directions.push([name, v]);
    offset += t.size;
  }
  return directions.map(([direction, raw]) => {
    const v = raw.map((x) => x / norm(raw));
    return { direction, fd: directional(p, theta, v, h), exact: dot(gExact, v), firstOrder: dot(gFirst, v) };
  });
}

/** Every direction matches; the first-order gradient misses in the combined direction and in most tensors. */
export function assertExactOnly(results: Comparison[], tolerance: (x: number) => number) {
  for (const r of results) {
    assert.ok(Math.abs(r.fd - r.exact) <= tolerance(r.exact), `${r.direction}: finite differences ${r.fd}, MAML ${r.exact}`);
  }
  const [all, ...tensors] = results;
  assert.ok(Math.abs(all.fd - all.firstOrder) > 5 * tolerance(all.exact), `first-order ${all.firstOrder} should miss ${all.fd}`);
  const missed = tensors.filter((r) => Math.abs(r.fd - r.firstOrder) > 3 * tolerance(r.exact));
  assert.ok(missed.length >= tensors.length / 2, `first-order matched in too many tensors: ${JSON.stringify(results)}`);
}

export function batchOf(x: number[][], y: number[], inputShape: number[], kind: 'regression' | 'classification'): Batch {
  return {
    x: tf.tensor(x.flat(), [x.length, ...inputShape], 'float32'),
    y: kind === 'regression' ? tf.tensor(y, [y.length, 1], 'float32') : tf.tensor(y, [y.length], 'int32'),
  };
}

export function disposeProblem(p: Problem) {
  disposeParams(p.theta);
  for (const b of [...p.adaptation, p.final]) tf.dispose([b.x, b.y]);
}

/** Checks one problem: the meta-gradient against finite differences with step h, no tensors leaked. */
export async function checkProblem(p: Problem, h: number, tolerance: (x: number) => number) {
  const before = tf.memory().numTensors;
  assertExactOnly(await compare(p, h), tolerance);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  disposeProblem(p);
}

/** A sine problem (2 sin(x + 0.5) on [-5, 5]): 3 adaptation minibatches and a final one of 5 points, squared error, rate 0.1. */
export function sineProblem(model: Model, seed: number): Problem {
  const rng = Rng.fromSeed(seed);
  const sine = (n: number) => {
    const xs = Array.from({ length: n }, () => [rng.uniform(-5, 5)]);
    return batchOf(xs, xs.map(([x]) => 2 * Math.sin(x + 0.5)), [1], 'regression');
  };
  return { model, loss: meanSquaredError(), theta: model.init(rng), adaptation: [sine(5), sine(5), sine(5)], final: sine(5), lr: 0.1 };
}
