/**
 * The sine page's model logic (the paper's Figure 1), browser-safe: fit the points a user
 * clicked, from the meta-learned initialisation and from a fresh random one, with `reptile
 * eval`'s adaptation (adaptAndTrace: same optimizer, steps, minibatches), recording the curve
 * after every step.
 */
import type { ParamSet } from '../core/params.js';
import { disposeParams } from '../core/params.js';
import { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import { meanSquaredError } from '../nn/losses.js';
import { adaptAndTrace, type AdaptationOptions } from '../eval/regression.js';
import { SineDistribution } from '../tasks/sine.js';

export interface SineFits {
  /** x of the curve (the benchmark's 50-point grid on [-5, 5]). */
  grid: Float32Array;
  /** curves[s] is the fit after s steps, s = 0..evalIters. */
  metaLearned: Float32Array[];
  fromScratch: Float32Array[];
}

/** Fits `points` from `metaParams` and from a fresh initialisation drawn with `seed`. */
export async function fitSine(model: Model, metaParams: ParamSet, points: { x: number[]; y: number[] }, adaptation: AdaptationOptions, seed: number): Promise<SineFits> {
  if (points.x.length === 0 || points.x.length !== points.y.length) throw new RangeError('fitSine needs one y per x and at least one point');
  const tasks = new SineDistribution();
  const loss = meanSquaredError();
  const grid = tasks.grid;
  const task = {
    support: { count: points.x.length, x: Float32Array.from(points.x), y: Float32Array.from(points.y) },
    // Only the predictions over the grid are used; the query targets are unknown.
    query: { count: grid.length, x: grid, y: new Float32Array(grid.length) },
  };
  const steps = Array.from({ length: adaptation.evalIters + 1 }, (_, s) => s);
  const rng = Rng.fromSeed(seed);
  const scratch = model.init(rng.fork());
  try {
    // The same minibatch order for both fits: only the starting point differs.
    const meta = await adaptAndTrace(model, loss, tasks, metaParams, task, adaptation, steps, Rng.fromSeed(seed), true);
    const fresh = await adaptAndTrace(model, loss, tasks, scratch, task, adaptation, steps, Rng.fromSeed(seed), true);
    return { grid, metaLearned: meta.predictions!, fromScratch: fresh.predictions! };
  } finally {
    disposeParams(scratch);
  }
}
