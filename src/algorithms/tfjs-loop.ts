/**
 * The inner-loop contract (core/inner-loop.ts) in TensorFlow.js ops, on any model, loss and
 * optimizer and on any backend: one task after another, one optimizer step per minibatch (the
 * steps of src/algorithms/inner-loop.ts). Losses stay on the device until the end: one host read
 * per call, none per step.
 */
import { tf } from '../core/tf.js';
import { meanParams, disposeParams, cloneParams, type ParamSet } from '../core/params.js';
import { cloneOptimizerState, disposeOptimizerState, stateToHostSync, type OptimizerState } from '../core/optimizer-state.js';
import { hostMeanState } from '../core/host-params.js';
import { fastHostMean } from '../kernels/host-arithmetic.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import type { AdaptJob, AdaptTasksOptions, AdaptTasksResult, InnerLoop } from '../core/inner-loop.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import type { ExampleLayoutSource } from '../tasks/task.js';
import { disposeBatch, toBatch, trainStep } from './inner-loop.js';

/** What an inner loop adapts: the model, its loss, and how examples become tensors. */
export interface InnerLoopSetup {
  model: Model;
  loss: LossFn;
  layout: ExampleLayoutSource;
}

interface JobResult {
  params: ParamSet;
  state: OptimizerState;
  lossSum: tf.Scalar;
}

export class TfjsLoop implements InnerLoop {
  readonly name: 'tfjs' = 'tfjs';
  readonly threadsHelp = true;

  constructor(private readonly setup: InnerLoopSetup, private readonly optimizer: Optimizer) {}

  /** One step per minibatch of `job` from `params` and `state`, which stay valid; the result is new tensors. */
  private runJob(params: ParamSet, state: OptimizerState, job: AdaptJob): JobResult {
    const { model, loss, layout } = this.setup;
    let current = { params, state };
    let lossSum: tf.Scalar = tf.scalar(0);
    for (const indices of job.batches) {
      const batch = toBatch(layout, job, indices);
      const step = trainStep(model, loss, this.optimizer, current.params, current.state, batch);
      disposeBatch(batch);
      if (current.params !== params) {
        disposeParams(current.params);
        disposeOptimizerState(current.state);
      }
      const total = tf.add(lossSum, step.loss) as tf.Scalar;
      lossSum.dispose();
      step.loss.dispose();
      lossSum = total;
      current = { params: step.params, state: step.state };
    }
    if (current.params === params) current = { params: cloneParams(params), state: cloneOptimizerState(state) };
    return { ...current, lossSum };
  }

  async adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], { mode, keep = 'mean' }: AdaptTasksOptions): Promise<AdaptTasksResult> {
    if (jobs.length === 0) throw new Error('adaptTasks needs at least one task');
    const start = theta.device;
    const given = mode === 'fresh' ? undefined : state?.device;
    let chained = given;
    const adapted: ParamSet[] = [];
    const ends: OptimizerState[] = [];
    const losses: tf.Scalar[] = [];
    for (const job of jobs) {
      const from = mode === 'chain' ? chained : given;
      const initial = from ?? this.optimizer.init(start);
      const r = this.runJob(start, initial, job);
      if (!from) disposeOptimizerState(initial);
      if (mode === 'chain') {
        if (chained !== given) disposeOptimizerState(chained);
        chained = r.state;
      } else if (mode === 'common') ends.push(r.state);
      else disposeOptimizerState(r.state);
      adapted.push(r.params);
      losses.push(r.lossSum);
    }
    const total = tf.addN(losses);
    const lossSum = (await total.data())[0];
    total.dispose();
    losses.forEach((l) => l.dispose());
    // The mean of the end states on the host, as the worker pool reduces them (the same bits).
    const hostEnds = ends.map(stateToHostSync);
    ends.forEach(disposeOptimizerState);
    const endState = mode === 'chain' ? StateStore.ofDevice(chained!) : mode === 'common' ? StateStore.ofHost(hostMeanState(hostEnds, fastHostMean)) : undefined;
    const eachState = keep === 'each' && mode === 'common' ? hostEnds.map((s) => StateStore.ofHost(s)) : undefined;
    if (keep === 'each') return { each: adapted.map((p) => ParamStore.ofDevice(p)), eachState, state: endState, lossSum };
    if (adapted.length === 1) return { mean: ParamStore.ofDevice(adapted[0]), state: endState, lossSum };
    const mean = meanParams(adapted);
    adapted.forEach(disposeParams);
    return { mean: ParamStore.ofDevice(mean), state: endState, lossSum };
  }
}
