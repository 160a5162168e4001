/**
 * The inner loop of T tasks at once, for models that can run T independent copies of themselves
 * in one set of kernels (Model.applyStacked). Every task starts from the same parameters and
 * optimizer state and takes the same number of steps on minibatches of the same size; each copy
 * computes what inner-loop.ts `adapt` computes for its task alone, with T times fewer kernel
 * launches (at small sizes a kernel launch, not arithmetic, is what a step costs).
 *
 * The task losses are summed before differentiation; the tasks share no parameter, so each
 * copy's gradient is its own task's gradient.
 */
import { tf, tidy } from '../core/tf.js';
import { mapParams, paramNames, paramsFromList, paramsToList, type ParamSet } from '../core/params.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeOptimizerState, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import type { Examples, ExampleLayoutSource } from '../tasks/task.js';

export interface StackedJob {
  examples: Examples;
  /** Example indices of each inner step's minibatch. */
  batches: readonly (readonly number[])[];
}

export interface StackedResult {
  /** Every parameter with a leading axis of T: copy t is task t's adapted parameters. */
  params: ParamSet;
  /** The optimizer state, stacked the same way. */
  state: OptimizerState;
  /** [T]: each task's sum of minibatch losses. */
  lossSums: tf.Tensor1D;
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Whether `adaptStacked` can run these jobs with this model. */
export function canStack(model: Model, jobs: readonly StackedJob[]): boolean {
  if (!model.applyStacked || model.batchStatistics || jobs.length < 2) return false;
  const shape = jobs[0].batches.map((b) => b.length);
  return jobs.every((j) => j.batches.length === shape.length && j.batches.every((b, s) => b.length === shape[s]));
}

/** T copies of every tensor of `params` along a new leading axis. */
export function tileParams(params: ParamSet, copies: number): ParamSet {
  return mapParams(params, (p) => tf.stack(Array.from({ length: copies }, () => p)));
}

function stepBatch(layout: ExampleLayoutSource, jobs: readonly StackedJob[], step: number): { x: tf.Tensor; y: tf.Tensor } {
  const inSize = product(layout.inputShape);
  const outSize = product(layout.targetShape);
  const batch = jobs[0].batches[step].length;
  const classification = layout.kind === 'classification';
  const x = new Float32Array(jobs.length * batch * inSize);
  const y = classification ? new Int32Array(jobs.length * batch * outSize) : new Float32Array(jobs.length * batch * outSize);
  let row = 0;
  for (const { examples, batches } of jobs) {
    for (const idx of batches[step]) {
      x.set(examples.x.subarray(idx * inSize, (idx + 1) * inSize), row * inSize);
      y.set(examples.y.subarray(idx * outSize, (idx + 1) * outSize), row * outSize);
      row++;
    }
  }
  return {
    x: tf.tensor(x, [jobs.length, batch, ...layout.inputShape], 'float32'),
    y: tf.tensor(y, [jobs.length, batch, ...layout.targetShape], classification ? 'int32' : 'float32'),
  };
}

/**
 * Adapts `theta` to every job from optimizer state `start` (fresh when undefined). Inputs stay
 * valid; the result is new tensors the caller disposes.
 */
export function adaptStacked(model: Model, loss: LossFn, optimizer: Optimizer, layout: ExampleLayoutSource, theta: ParamSet, start: OptimizerState | undefined, jobs: readonly StackedJob[]): StackedResult {
  if (!canStack(model, jobs)) throw new Error('adaptStacked: the model cannot run stacked copies, or the jobs differ in steps or minibatch sizes');
  const copies = jobs.length;
  const names = paramNames(theta);
  let params = tileParams(theta, copies);
  let state: OptimizerState = start
    ? { step: start.step, slots: Object.fromEntries(Object.entries(start.slots).map(([k, v]) => [k, tileParams(v, copies)])) }
    : optimizer.init(params);
  let lossSums: tf.Tensor1D = tf.zeros([copies]);
  for (let s = 0; s < jobs[0].batches.length; s++) {
    const { x, y } = stepBatch(layout, jobs, s);
    const next = tidy(() => {
      let perTask: tf.Tensor1D | undefined;
      const total = (...list: tf.Tensor[]) => {
        const outputs = tf.unstack(model.applyStacked!(paramsFromList(names, list), x));
        const targets = tf.unstack(y);
        const losses = outputs.map((o, t) => loss(o, targets[t]));
        perTask = tf.keep(tf.stack(losses) as tf.Tensor1D);
        return tf.addN(losses) as tf.Scalar;
      };
      const { grads } = tf.valueAndGrads(total)(paramsToList(params));
      const stepped = optimizer.step(params, paramsFromList(names, grads), state);
      const sums = tf.add(lossSums, perTask!) as tf.Tensor1D;
      perTask!.dispose();
      return { ...stepped, sums };
    });
    x.dispose();
    y.dispose();
    tf.dispose(Object.values(params));
    disposeOptimizerState(state);
    lossSums.dispose();
    params = next.params;
    state = next.state;
    lossSums = next.sums;
  }
  return { params, state, lossSums };
}
