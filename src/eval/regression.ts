/**
 * Few-shot regression evaluation: for each new task, start from the meta-parameters with a
 * fresh optimizer, take `evalIters` steps on minibatches of the support set, and score the
 * query set (for sine: the MSE over the 50-point grid). The meta-parameters are never changed.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeBatch, toBatch, batchLoss } from '../algorithms/inner-loop.js';
import { adaptToSupport, type AdaptationOptions } from './adapt.js';
import type { EvalTask, ExampleLayoutSource } from '../tasks/task.js';
import { ci95, mean } from './stats.js';

export type { AdaptationOptions };

export interface AdaptationTrace {
  /** Query loss after each number of steps listed in `steps`. */
  losses: number[];
  /** Query predictions after each number of steps listed in `steps` (when asked for). */
  predictions?: Float32Array[];
}

/**
 * Adapts to one task and records the query loss (and optionally predictions) after each
 * number of steps in `steps` (sorted, each in 0..evalIters).
 */
export async function adaptAndTrace(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource,
  metaParams: ParamSet,
  task: EvalTask,
  options: AdaptationOptions,
  steps: readonly number[],
  rng: Rng,
  withPredictions = false,
): Promise<AdaptationTrace> {
  const query = toBatch(layout, task.query);
  const lossTensors: tf.Scalar[] = [];
  const predictionTensors: tf.Tensor[] = [];
  const adapted = await adaptToSupport(model, loss, layout, metaParams, task.support, options, rng, (step, params) => {
    if (!steps.includes(step)) return;
    lossTensors.push(batchLoss(model, loss, params, query));
    if (withPredictions) predictionTensors.push(tf.tidy(() => model.apply(params, query.x, { training: true })));
  }, steps);
  adapted.dispose();
  disposeBatch(query);
  // One read per task, after all its steps: no host sync inside the adaptation loop.
  const losses = await Promise.all(lossTensors.map(async (t) => (await t.data())[0]));
  const predictions = withPredictions ? await Promise.all(predictionTensors.map(async (t) => Float32Array.from(await t.data()))) : undefined;
  lossTensors.forEach((t) => t.dispose());
  predictionTensors.forEach((t) => t.dispose());
  return { losses, predictions };
}

export interface RegressionEval {
  tasks: number;
  /** Mean query loss of the meta-parameters themselves (0 steps). */
  mseBefore: number;
  /** Mean query loss after evalIters steps. */
  mseAfter: number;
  /** 95% confidence half-width of mseAfter. */
  ci95: number;
  ci95Before: number;
  /** Mean query loss after 1 step. */
  mseAfterOneStep: number;
  evalIters: number;
}

/** Evaluates on `tasks` tasks drawn from `sampleTask` (pass the same rng seed to compare learners on the same tasks). */
export async function evaluateRegression(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource,
  metaParams: ParamSet,
  sampleTask: (rng: Rng) => EvalTask,
  options: AdaptationOptions & { tasks: number },
  rng: Rng,
): Promise<RegressionEval> {
  const before: number[] = [];
  const afterOne: number[] = [];
  const after: number[] = [];
  const steps = [...new Set([0, Math.min(1, options.evalIters), options.evalIters])];
  for (let i = 0; i < options.tasks; i++) {
    const task = sampleTask(rng);
    const { losses } = await adaptAndTrace(model, loss, layout, metaParams, task, options, steps, rng);
    before.push(losses[0]);
    afterOne.push(losses[steps.indexOf(Math.min(1, options.evalIters))]);
    after.push(losses[steps.indexOf(options.evalIters)]);
  }
  return {
    tasks: options.tasks,
    mseBefore: mean(before),
    mseAfter: mean(after),
    ci95: ci95(after),
    ci95Before: ci95(before),
    mseAfterOneStep: mean(afterOne),
    evalIters: options.evalIters,
  };
}
