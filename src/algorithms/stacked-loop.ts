/**
 * The inner-loop contract (core/inner-loop.ts) for T tasks at once, for models that can run T
 * independent copies of themselves in one set of kernels (Model.applyStacked). Every task starts
 * from the same parameters and optimizer state (modes 'common' and 'fresh') and takes the same
 * number of steps on minibatches of the same size; each copy computes what the tfjs loop
 * (tfjs-loop.ts) computes for its task alone, with T times fewer kernel launches (at small sizes
 * a kernel launch, not arithmetic, is what a step costs). Anything else ('chain', uneven tasks,
 * one task) goes to the tfjs loop.
 *
 * The task losses are summed before differentiation; the tasks share no parameter, so each
 * copy's gradient is its own task's gradient. A loss of losses.ts (per-example terms summed or
 * averaged) is taken once over all T x batch examples, scaled by T when averaged; any other loss
 * function once per task.
 */
import { fastHostMean } from '../kernels/host-arithmetic.js';
import { tf, tidy } from '../core/tf.js';
import { disposeParams, mapParams, paramNames, paramsFromList, paramsToHost, paramsToList, type HostParams, type ParamSet } from '../core/params.js';
import { disposeOptimizerState, stateToHost, type HostOptimizerState, type OptimizerState } from '../core/optimizer-state.js';
import type { ParamStore, StateStore } from '../core/param-store.js';
import { hostTasksResult, type AdaptJob, type AdaptTasksOptions, type AdaptTasksResult, type InnerLoop } from '../core/inner-loop.js';
import type { Model } from '../nn/model.js';
import { lossSpec, type LossFn } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import type { ExampleLayoutSource } from '../tasks/task.js';
import type { InnerLoopSetup } from './tfjs-loop.js';

export interface StackedResult {
  /** Every parameter with a leading axis of T: copy t is task t's adapted parameters. */
  params: ParamSet;
  /** The optimizer state, stacked the same way. */
  state: OptimizerState;
  /** The sum over tasks and steps of the minibatch losses. */
  lossSum: tf.Scalar;
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Whether `adaptStacked` can run these jobs with this model. */
export function canStack(model: Model, jobs: readonly AdaptJob[]): boolean {
  if (!model.applyStacked || model.batchStatistics || jobs.length < 2) return false;
  const shape = jobs[0].batches.map((b) => b.length);
  return jobs.every((j) => j.batches.length === shape.length && j.batches.every((b, s) => b.length === shape[s]));
}

/** T copies of every tensor of `params` along a new leading axis. */
export function tileParams(params: ParamSet, copies: number): ParamSet {
  return mapParams(params, (p) => tf.stack(Array.from({ length: copies }, () => p)));
}

function stepBatch(layout: ExampleLayoutSource, jobs: readonly AdaptJob[], step: number): { x: tf.Tensor; y: tf.Tensor } {
  const inSize = product(layout.inputShape);
  const outSize = product(layout.targetShape);
  const batch = jobs[0].batches[step].length;
  const classification = layout.kind === 'classification';
  const x = new Float32Array(jobs.length * batch * inSize);
  const y = classification ? new Int32Array(jobs.length * batch * outSize) : new Float32Array(jobs.length * batch * outSize);
  let row = 0;
  for (const examples of jobs) {
    for (const idx of examples.batches[step]) {
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
export function adaptStacked(model: Model, loss: LossFn, optimizer: Optimizer, layout: ExampleLayoutSource, theta: ParamSet, start: OptimizerState | undefined, jobs: readonly AdaptJob[]): StackedResult {
  if (!canStack(model, jobs)) throw new Error('adaptStacked: the model cannot run stacked copies, or the jobs differ in steps or minibatch sizes');
  const copies = jobs.length;
  const names = paramNames(theta);
  let params = tileParams(theta, copies);
  let state: OptimizerState = start
    ? { step: start.step, slots: Object.fromEntries(Object.entries(start.slots).map(([k, v]) => [k, tileParams(v, copies)])) }
    : optimizer.init(params);
  let lossSum: tf.Scalar = tf.scalar(0);
  const spec = lossSpec(loss);
  for (let s = 0; s < jobs[0].batches.length; s++) {
    const { x, y } = stepBatch(layout, jobs, s);
    const next = tidy(() => {
      const total = (...list: tf.Tensor[]) => {
        const outputs = model.applyStacked!(paramsFromList(names, list), x);
        if (spec) {
          const [t, b, out] = outputs.shape;
          const value = loss(outputs.reshape([t * b, out]), y.reshape([t * b, ...y.shape.slice(2)]));
          return spec.reduction === 'mean' ? (tf.mul(value, copies) as tf.Scalar) : value;
        }
        const targets = tf.unstack(y);
        return tf.addN(tf.unstack(outputs).map((o, t) => loss(o, targets[t]))) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(total)(paramsToList(params));
      const stepped = optimizer.step(params, paramsFromList(names, grads), state);
      return { ...stepped, sum: tf.add(lossSum, value) as tf.Scalar };
    });
    x.dispose();
    y.dispose();
    tf.dispose(Object.values(params));
    disposeOptimizerState(state);
    lossSum.dispose();
    params = next.params;
    state = next.state;
    lossSum = next.sum;
  }
  return { params, state, lossSum };
}

/** Copy t of a host parameter set whose tensors have a leading axis of `copies`. */
function unstackHost(stacked: HostParams, t: number, copies: number): HostParams {
  return {
    names: stacked.names,
    shapes: stacked.shapes.map((s) => s.slice(1)),
    values: stacked.values.map((v) => {
      const size = v.length / copies;
      return v.slice(t * size, (t + 1) * size);
    }),
  };
}

function unstackState(stacked: HostOptimizerState, t: number, copies: number): HostOptimizerState {
  return { step: stacked.step, slots: Object.fromEntries(Object.entries(stacked.slots).map(([k, v]) => [k, unstackHost(v, t, copies)])) };
}

export class StackedLoop implements InnerLoop {
  readonly name: 'tfjs-stacked' = 'tfjs-stacked';
  readonly threadsHelp = true;

  /** Whether the model can run stacked copies (and no copy's output depends on the others' batch). */
  static applies(model: Model): boolean {
    return model.applyStacked !== undefined && !model.batchStatistics;
  }

  constructor(private readonly setup: InnerLoopSetup, private readonly optimizer: Optimizer, private readonly serial: InnerLoop) {}

  async adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], options: AdaptTasksOptions): Promise<AdaptTasksResult> {
    const { model, loss, layout } = this.setup;
    if (options.mode === 'chain' || !canStack(model, jobs)) return this.serial.adaptTasks(theta, state, jobs, options);
    const start = options.mode === 'common' ? state?.device : undefined;
    const r = adaptStacked(model, loss, this.optimizer, layout, theta.device, start, jobs);
    const [phi, endState, lossSum] = await Promise.all([paramsToHost(r.params), stateToHost(r.state), r.lossSum.data()]);
    disposeParams(r.params);
    disposeOptimizerState(r.state);
    r.lossSum.dispose();
    // Reduced on the host in task order, as the worker pool reduces its threads' tasks.
    const each = jobs.map((_, t) => unstackHost(phi, t, jobs.length));
    const ends = jobs.map((_, t) => unstackState(endState, t, jobs.length));
    return hostTasksResult(each, ends, options, lossSum[0], fastHostMean);
  }
}
