/**
 * One thread's share of a meta-batch or of an evaluation, from host data to host data, as the
 * adaptation workers run it (adapt-worker.ts) and as the main thread runs its own share
 * (worker-pool.ts): the inner loop the factory chooses for the recipe, on the same backend, so a
 * task's result does not depend on the thread.
 */
import type { HostParams } from '../core/params.js';
import type { HostOptimizerState } from '../core/optimizer-state.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import type { AdaptJob, InnerLoop } from '../core/inner-loop.js';
import { scoreInOrder, type ScoreJob, type ScoringSetup } from '../eval/classification.js';
import { selectInnerLoop } from '../algorithms/select-inner-loop.js';
import { buildModel } from '../nn/build.js';
import { lossFromSpec } from '../nn/losses.js';
import { optimizerFromConfig } from '../nn/optimizers.js';
import type { AdaptRecipe, ChunkResult, SplittableMode } from './protocol.js';

/** The inner loop a recipe names, on the active backend, with its model (which predicts at evaluation). */
export function recipeSetup(recipe: AdaptRecipe): ScoringSetup {
  const setup = { model: buildModel(recipe.model), loss: lossFromSpec(recipe.loss), layout: recipe.layout };
  const loop = selectInnerLoop(setup, optimizerFromConfig(recipe.optimizer.name, recipe.optimizer.config), { kernels: recipe.kernels });
  return { loop, model: setup.model, layout: setup.layout };
}

/** Evaluation's share of one thread: each task's correct count, in order (what the main thread computes alone). */
export async function scoreChunk(setup: ScoringSetup, theta: HostParams, jobs: readonly ScoreJob[], transductive: boolean): Promise<number[]> {
  const thetaStore = ParamStore.ofHost(theta);
  try {
    return await scoreInOrder(setup, thetaStore, jobs, transductive);
  } finally {
    thetaStore.dispose();
  }
}

/** Adapts `theta` to each job of a chunk, each from `state` (mode 'common') or a fresh state. */
export async function runChunk(loop: InnerLoop, theta: HostParams, state: HostOptimizerState | undefined, jobs: readonly AdaptJob[], mode: SplittableMode): Promise<ChunkResult> {
  const thetaStore = ParamStore.ofHost(theta);
  const stateStore = state && StateStore.ofHost(state);
  try {
    const r = await loop.adaptTasks(thetaStore, stateStore, jobs, { mode, keep: 'each' });
    const result = { phis: r.each!.map((p) => p.host), states: r.eachState?.map((s) => s.host), lossSum: r.lossSum };
    [...r.each!, ...(r.eachState ?? []), r.state].forEach((s) => s?.dispose());
    return result;
  } finally {
    thetaStore.dispose();
    stateStore?.dispose();
  }
}
