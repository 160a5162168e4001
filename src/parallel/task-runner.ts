/**
 * The inner loop of many tasks from host data to host data, as the adaptation workers run it
 * (adapt-worker.ts) and as the main thread runs its own share of a meta-batch (worker-pool.ts):
 * the same code on the same backend, so a task's result does not depend on the thread.
 */
import { disposeParams, paramsFromHost, paramsToHost, type HostParams } from '../core/params.js';
import { buildModel } from '../nn/build.js';
import { lossFromSpec } from '../nn/losses.js';
import { disposeOptimizerState, optimizerFromConfig } from '../nn/optimizers.js';
import { adapt, disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import { adaptStacked, canStack } from '../algorithms/stacked-inner-loop.js';
import { fusedInnerLoopFor } from '../algorithms/fused-inner-loop.js';
import { stateFromHost, stateToHost } from './host-state.js';
import type { AdaptBatchResult, AdaptJob, AdaptRecipe, AdaptResultHost, HostOptimizerState } from './protocol.js';

export type TaskRunner = (theta: HostParams, state: HostOptimizerState | undefined, jobs: readonly AdaptJob[]) => Promise<AdaptBatchResult>;

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

/** A runner on the active TensorFlow.js backend. */
export function createTaskRunner(recipe: AdaptRecipe): TaskRunner {
  const model = buildModel(recipe.model);
  const loss = lossFromSpec(recipe.loss);
  const optimizer = optimizerFromConfig(recipe.optimizer.name, recipe.optimizer.config);
  const fused = recipe.fusedInnerLoop === false ? undefined : fusedInnerLoopFor(model, loss, optimizer, recipe.layout);
  return async (hostTheta, state, jobs) => {
    if (fused) {
      // The fused MLP loop works on host arrays: no tensors at all.
      let total = 0;
      const results = jobs.map((job) => {
        const r = fused.adapt(hostTheta, state, job);
        total += r.lossSum;
        return { phi: r.phi, state: r.state };
      });
      return { results, lossSum: total };
    }
    const theta = paramsFromHost(hostTheta);
    // Every task starts from this state (adapt and adaptStacked leave their inputs alone).
    const start = state ? stateFromHost(state) : optimizer.init(theta);
    const results: AdaptResultHost[] = [];
    let total = 0;
    try {
      const stackable = jobs.map((job) => ({ examples: job, batches: job.batches }));
      if (canStack(model, stackable)) {
        // All tasks of this thread's share at once (same start, same steps): one set of kernels.
        const r = adaptStacked(model, loss, optimizer, recipe.layout, theta, start, stackable);
        const [phi, endState, lossSum] = await Promise.all([paramsToHost(r.params), stateToHost(r.state), r.lossSum.data()]);
        disposeParams(r.params);
        disposeOptimizerState(r.state);
        r.lossSum.dispose();
        const perTask = jobs.map((_, t) => ({
          phi: unstackHost(phi, t, jobs.length),
          state: { step: endState.step, slots: Object.fromEntries(Object.entries(endState.slots).map(([k, v]) => [k, unstackHost(v, t, jobs.length)])) },
        }));
        return { results: perTask, lossSum: lossSum[0] };
      }
      for (const job of jobs) {
        const batches = job.batches.map((idx) => toBatch(recipe.layout, job, idx));
        const r = adapt(model, loss, optimizer, theta, start, batches);
        batches.forEach(disposeBatch);
        const [phi, endState, lossSum] = await Promise.all([paramsToHost(r.params), stateToHost(r.state), r.lossSum.data()]);
        disposeParams(r.params);
        disposeOptimizerState(r.state);
        r.lossSum.dispose();
        results.push({ phi, state: endState });
        total += lossSum[0];
      }
    } finally {
      disposeParams(theta);
      disposeOptimizerState(start);
    }
    return { results, lossSum: total };
  };
}
