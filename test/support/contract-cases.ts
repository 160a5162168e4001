/**
 * Helpers of the inner-loop contract suite (test/inner-loop-contract.test.ts): seeded jobs that
 * can be made again with fresh buffers (the worker pool transfers, i.e. detaches, the examples it
 * sends), results read to the host, and the two comparisons the suite makes: bitwise (replicas)
 * and to a tolerance (implementations against the TensorFlow.js reference loop).
 */
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { paramsFromHost, type HostParams } from '../../src/core/params.js';
import { stateFromHost, type HostOptimizerState } from '../../src/core/optimizer-state.js';
import { ParamStore, StateStore } from '../../src/core/param-store.js';
import type { AdaptJob, AdaptTasksResult, InnerStateMode } from '../../src/core/inner-loop.js';
import { minibatchIndices, type ExampleLayoutSource } from '../../src/tasks/task.js';

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The tasks of a call: the number of steps (minibatches) of each task, all of `batch` examples. */
export interface JobPlan {
  name: string;
  steps: number[];
  batch: number;
}

/** Examples per task: more than any minibatch, so that minibatches are drawn from a shuffle. */
const EXAMPLES = 8;

/**
 * The jobs of `plan`, the same for the same seed, in new buffers every call. Inputs are normal
 * (uniform in [0, 1) for images), regression targets normal, class labels i mod classes.
 */
export function makeJobs(layout: ExampleLayoutSource, outputs: number, plan: JobPlan, seed: number): AdaptJob[] {
  const rng = Rng.fromSeed(seed);
  const inSize = product(layout.inputShape);
  const images = layout.inputShape.length === 3;
  return plan.steps.map((steps) => {
    const x = Float32Array.from({ length: EXAMPLES * inSize }, () => (images ? rng.uniform(0, 1) : rng.normal()));
    const y = layout.kind === 'classification' ? Int32Array.from({ length: EXAMPLES }, (_, i) => i % outputs) : Float32Array.from({ length: EXAMPLES * outputs }, () => rng.normal());
    return { count: EXAMPLES, x, y, batches: minibatchIndices(EXAMPLES, plan.batch, steps, rng) };
  });
}

/** A result read to the host (its stores disposed): what the suite compares. */
export interface Outcome {
  mean?: HostParams;
  each?: HostParams[];
  eachState?: HostOptimizerState[];
  state?: HostOptimizerState;
  lossSum: number;
}

/** Reads every store of `r` to the host and disposes it (the result's stores are the caller's). */
export function settle(r: AdaptTasksResult): Outcome {
  const out: Outcome = {
    mean: r.mean?.host,
    each: r.each?.map((p) => p.host),
    eachState: r.eachState?.map((s) => s.host),
    state: r.state?.host,
    lossSum: r.lossSum,
  };
  [r.mean, ...(r.each ?? []), ...(r.eachState ?? []), r.state].forEach((s) => s?.dispose());
  return out;
}

/** Input stores in host form, or in device form (tensors the store owns): both forms must work. */
export function inputStores(theta: HostParams, state: HostOptimizerState | undefined, form: 'host' | 'device'): { theta: ParamStore; state: StateStore | undefined } {
  if (form === 'host') return { theta: ParamStore.ofHost(copyParams(theta)), state: state && StateStore.ofHost(copyState(state)) };
  return { theta: ParamStore.ofDevice(paramsFromHost(theta)), state: state && StateStore.ofDevice(stateFromHost(state)) };
}

export function copyParams(p: HostParams): HostParams {
  return { names: p.names.slice(), shapes: p.shapes.map((s) => s.slice()), values: p.values.map((v) => v.slice()) };
}

export function copyState(s: HostOptimizerState): HostOptimizerState {
  return { step: s.step, slots: Object.fromEntries(Object.entries(s.slots).map(([k, v]) => [k, copyParams(v)])) };
}

// ---------------------------------------------------------------------------------------------
// Bitwise comparison (replicas: the pool and its thread's loop, the same call twice)

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]} (not bitwise equal)`);
}

export function assertParamsBitwise(a: HostParams, b: HostParams, what: string): void {
  assert.deepEqual(a.names, b.names, `${what}: names`);
  assert.deepEqual(a.shapes, b.shapes, `${what}: shapes`);
  a.values.forEach((v, k) => sameBits(v, b.values[k], `${what} ${a.names[k]}`));
}

export function assertStateBitwise(a: HostOptimizerState | undefined, b: HostOptimizerState | undefined, what: string): void {
  assert.equal(a === undefined, b === undefined, `${what}: one is undefined, the other not`);
  if (!a || !b) return;
  assert.equal(a.step, b.step, `${what}: step`);
  assert.deepEqual(Object.keys(a.slots).sort(), Object.keys(b.slots).sort(), `${what}: slot names`);
  for (const name of Object.keys(a.slots)) assertParamsBitwise(a.slots[name], b.slots[name], `${what} slot ${name}`);
}

/** Which of mean / each / eachState / state are present, and how many. */
function assertSameShape(actual: Outcome, expected: Outcome, what: string): void {
  const shape = (o: Outcome) => ({ mean: o.mean !== undefined, each: o.each?.length, eachState: o.eachState?.length, state: o.state !== undefined });
  assert.deepEqual(shape(actual), shape(expected), `${what}: which results came back`);
}

/** Every bit the same, lossSum included unless `loss` is false. */
export function assertOutcomesBitwise(actual: Outcome, expected: Outcome, what: string, { loss = true } = {}): void {
  assertSameShape(actual, expected, what);
  if (expected.mean) assertParamsBitwise(actual.mean!, expected.mean, `${what}: mean`);
  expected.each?.forEach((p, t) => assertParamsBitwise(actual.each![t], p, `${what}: task ${t}`));
  expected.eachState?.forEach((s, t) => assertStateBitwise(actual.eachState![t], s, `${what}: task ${t} end state`));
  assertStateBitwise(actual.state, expected.state, `${what}: end state`);
  if (loss) assert.ok(Object.is(actual.lossSum, expected.lossSum), `${what}: lossSum ${actual.lossSum} vs ${expected.lossSum} (not bitwise equal)`);
}

// ---------------------------------------------------------------------------------------------
// Comparison to a tolerance (an implementation against the reference loop)

export interface Tolerance {
  /**
   * Each value within rtol (|expected| + S) of the reference, S the largest magnitude in the same
   * parameter set or slot (so that values near zero are held to the set's own scale, not to 1).
   */
  rtol: number;
  /** lossSum within lossRtol |expected| (0 exactly when the reference's is 0). */
  lossRtol: number;
}

/** Where a loose bound replaces the tolerance: absolute bounds by parameter name (see the suite). */
export type LooseBounds = (name: string) => number | undefined;

/** Compares; returns the largest |error| / allowed seen (<= 1 when it passes), for diagnostics. */
function closeParams(actual: HostParams, expected: HostParams, tol: Tolerance, what: string, loose?: LooseBounds): number {
  assert.deepEqual(actual.names, expected.names, `${what}: names`);
  assert.deepEqual(actual.shapes, expected.shapes, `${what}: shapes`);
  const S = Math.max(0, ...expected.values.map((v) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
  let worst = 0;
  expected.values.forEach((v, k) => {
    const name = expected.names[k];
    const mine = actual.values[k];
    const bound = loose?.(name);
    for (let i = 0; i < v.length; i++) {
      const allowed = bound ?? tol.rtol * (Math.abs(v[i]) + S);
      const err = Math.abs(mine[i] - v[i]);
      if (!(err <= allowed)) assert.fail(`${what} ${name}[${i}]: ${mine[i]} vs reference ${v[i]} (|error| ${err.toExponential(2)} > ${allowed.toExponential(2)}${bound === undefined ? '' : ', loose bound'})`);
      if (bound === undefined && allowed > 0) worst = Math.max(worst, err / allowed);
    }
  });
  return worst;
}

function closeState(actual: HostOptimizerState | undefined, expected: HostOptimizerState | undefined, tol: Tolerance, what: string): number {
  assert.equal(actual === undefined, expected === undefined, `${what}: one is undefined, the other not`);
  if (!actual || !expected) return 0;
  assert.equal(actual.step, expected.step, `${what}: step`);
  assert.deepEqual(Object.keys(actual.slots).sort(), Object.keys(expected.slots).sort(), `${what}: slot names`);
  return Math.max(0, ...Object.keys(expected.slots).map((name) => closeParams(actual.slots[name], expected.slots[name], tol, `${what} slot ${name}`)));
}

/**
 * `actual` agrees with the reference: the same results present, the same step counts, every
 * value within the tolerance (or the loose bound for parameters it names). Returns the largest
 * errors as fractions of what is allowed: of the parameters and states, and of lossSum.
 */
export function assertOutcomesClose(actual: Outcome, expected: Outcome, tol: Tolerance, what: string, loose?: LooseBounds): { values: number; loss: number } {
  assertSameShape(actual, expected, what);
  let worst = 0;
  if (expected.mean) worst = Math.max(worst, closeParams(actual.mean!, expected.mean, tol, `${what}: mean`, loose));
  expected.each?.forEach((p, t) => (worst = Math.max(worst, closeParams(actual.each![t], p, tol, `${what}: task ${t}`, loose))));
  expected.eachState?.forEach((s, t) => (worst = Math.max(worst, closeState(actual.eachState![t], s, tol, `${what}: task ${t} end state`))));
  worst = Math.max(worst, closeState(actual.state, expected.state, tol, `${what}: end state`));
  const e = expected.lossSum;
  const lossErr = Math.abs(actual.lossSum - e);
  if (e === 0) assert.equal(actual.lossSum, 0, `${what}: lossSum ${actual.lossSum}, reference 0`);
  else if (!(lossErr <= tol.lossRtol * Math.abs(e))) assert.fail(`${what}: lossSum ${actual.lossSum} vs reference ${e} (relative error ${(lossErr / Math.abs(e)).toExponential(2)} > ${tol.lossRtol})`);
  return { values: worst, loss: e === 0 || lossErr === 0 ? 0 : lossErr / (tol.lossRtol * Math.abs(e)) };
}

// ---------------------------------------------------------------------------------------------
// Adam's largest move, for the conv biases of the fused CNN

/**
 * The most TF1-form Adam can move one parameter in the steps `first + 1 .. first + steps` of a
 * history that started from a zero state: at step t, lr_t |m_t| / (sqrt(v_t) + eps) with
 * lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), and by Cauchy-Schwarz over the gradients so far
 * |m_t| <= (1 - b1) sqrt((1 - r^t) / (1 - r)) sqrt(v_t / (1 - b2)), r = b1^2 / b2; so
 * |move_t| <= lr sqrt((1 - b2^t) / (1 - b2)) (1 - b1) / (1 - b1^t) sqrt((1 - r^t) / (1 - r)),
 * whatever the gradients are (about lr sqrt(t) for b1 = 0, about lr for b1 = 0.9 and small t).
 */
export function adamTravel(config: { learningRate: number; beta1: number; beta2: number }, first: number, steps: number): number {
  const { learningRate: lr, beta1: b1, beta2: b2 } = config;
  const r = (b1 * b1) / b2;
  let total = 0;
  for (let t = first + 1; t <= first + steps; t++) {
    const momentum = b1 === 0 ? 1 : ((1 - b1) / (1 - b1 ** t)) * Math.sqrt((1 - r ** t) / (1 - r));
    total += lr * Math.sqrt((1 - b2 ** t) / (1 - b2)) * momentum;
  }
  return total;
}

/** The Adam step index before each job's first step, by the mode's rule. */
export function firstSteps(mode: InnerStateMode, startStep: number, steps: readonly number[]): number[] {
  if (mode === 'fresh') return steps.map(() => 0);
  if (mode === 'common') return steps.map(() => startStep);
  let at = startStep;
  return steps.map((k) => ((at += k), at - k));
}
