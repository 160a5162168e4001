/**
 * Periodic and final evaluations of `reptile train` (src/cli/benchmarks/few-shot.ts) follow one
 * protocol and differ only in their task streams (issue 18, docs/evaluation.md): each is
 * evaluateClassification on the test split with the run's adaptation settings, the periodic one on
 * `--eval-interval-samples` tasks of the run's interval stream, the final one on `--eval-samples`
 * tasks of its final stream. The periodic tasks are the same at every evaluation point. A periodic
 * evaluation sitting below the final one is therefore its draw of tasks, never its protocol.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import { evaluateClassification } from '../src/eval/classification.js';
import { resolveTrainConfig } from '../src/cli/train-options.js';
import { fewShotBenchmark } from '../src/cli/benchmarks/few-shot.js';
import { evaluationOptions } from '../src/cli/library-options.js';
import { runStreams } from '../src/cli/streams.js';

await useBackend('wasm');

/** `count` classes of 20 noisy 8-value examples around a random prototype each. */
function classes(prefix: string, count: number, seed: number): ExampleClass[] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: count }, (_, c) => {
    const prototype = Array.from({ length: 8 }, () => rng.uniform(0, 1));
    const noise = Array.from({ length: 20 * 8 }, () => 0.3 * rng.normal());
    return { name: `${prefix}${c}`, count: 20, image: (i: number, out: Float32Array, at: number) => prototype.forEach((p, k) => (out[at + k] = p + noise[i * 8 + k])) };
  });
}

test('the periodic evaluation is the final one\'s protocol on the interval stream, the same tasks at every point', async () => {
  const settings = { classes: 5, shots: 1, evalIters: 10, evalIntervalSamples: 12, evalSamples: 12, innerOptimizer: 'sgd', learningRate: 0.05, seed: 4 };
  const config = resolveTrainConfig('omniglot', settings);
  const model = mlp([8, 16, 5], { activation: 'relu', init: 'tensorflow' });
  const splits = { train: classes('train', 10, 1), test: classes('test', 10, 2) };
  const setup = fewShotBenchmark(config, 'omniglot', model, [8], splits);
  const params = model.init(Rng.fromSeed(0));
  const test = new FewShotClassification('test', splits.test, [8], { ways: 5, trainShots: config.trainShots, shots: 1 });
  const streams = runStreams(config.seed);
  const reference = async (state: number[], tasks: number) =>
    evaluateClassification(model, setup.loss, test, params, (rng) => test.sampleEvalTask(rng), { ...evaluationOptions(config), tasks }, Rng.fromState(state));

  const periodic = await setup.evaluatePeriodic(params);
  const onInterval = await reference(streams.intervalEval, 12);
  assert.equal(periodic.testAccuracy, onInterval.accuracy);
  assert.equal(periodic.testCi95, onInterval.ci95);
  assert.deepEqual(await setup.evaluatePeriodic(params), periodic, 'the same tasks at the next evaluation point');

  const final = (await setup.evaluateFinal(params)) as { accuracy: number; taskAccuracies: number[] };
  const onFinal = await reference(streams.finalEval, 12);
  assert.deepEqual(final.taskAccuracies, onFinal.taskAccuracies);
  // The same count of tasks from the two streams: different draws (so their means may differ).
  assert.notDeepEqual(onInterval.taskAccuracies, onFinal.taskAccuracies);
  disposeParams(params);
});
