/**
 * src/cli/library-options.ts: the configuration's groups as the library's options. Each
 * algorithm's class built from metaLearnerOptions and trained by metaTrain with scheduleOptions
 * gives the same parameters, bit for bit, as the learner the CLI builds (src/cli/build.ts), and
 * evaluationOptions is the adaptation `reptile eval` uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/core/backend.js';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHost, type ParamSet } from '../src/core/params.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { Fomaml } from '../src/algorithms/fomaml.js';
import { Maml } from '../src/algorithms/maml.js';
import { Scratch } from '../src/algorithms/scratch.js';
import { JointTraining } from '../src/algorithms/joint.js';
import type { MetaLearner, MetaLearnerSetup } from '../src/algorithms/meta-learner.js';
import { metaTrain } from '../src/train/meta-train.js';
import { adaptationOf } from '../src/demo/run-settings.js';
import { ALGORITHMS, type Algorithm, type TrainConfig } from '../src/cli/config.js';
import { resolveTrainConfig } from '../src/cli/train-options.js';
import { buildLearner } from '../src/cli/build.js';
import { sineBenchmark } from '../src/cli/benchmarks/sine.js';
import { evaluationOptions, metaLearnerOptions, scheduleOptions } from '../src/cli/library-options.js';

await useBackend('wasm');

function fromOptions(algorithm: Algorithm, config: TrainConfig, setup: MetaLearnerSetup, theta0: ParamSet): MetaLearner {
  switch (algorithm) {
    case 'reptile':
      return new Reptile(setup, theta0, metaLearnerOptions('reptile', config));
    case 'fomaml':
      return new Fomaml(setup, theta0, metaLearnerOptions('fomaml', config));
    case 'maml':
      return new Maml(setup, theta0, metaLearnerOptions('maml', config));
    case 'scratch':
      return new Scratch(setup, theta0, metaLearnerOptions('scratch', config));
    case 'joint':
      return new JointTraining(setup, theta0, metaLearnerOptions('joint', config));
  }
}

/** The losses and final parameters of a few meta-iterations. */
async function trained(learner: MetaLearner, config: TrainConfig, tasks: Parameters<typeof metaTrain>[1]): Promise<{ losses: number[]; params: number[][] }> {
  const streams = { tasks: Rng.fromSeed(1), batches: Rng.fromSeed(2) };
  const losses: number[] = [];
  await metaTrain(learner, tasks, streams, { ...scheduleOptions(config), onIteration: (_, loss) => void losses.push(loss) });
  const params = (await paramsToHost(learner.params)).values.map((v) => Array.from(v));
  learner.dispose();
  return { losses, params };
}

test('metaLearnerOptions and scheduleOptions train as the CLI does, for every algorithm', async () => {
  const base = resolveTrainConfig('sine', { metaIters: 3, metaBatch: 2, innerIters: 3, hidden: [8], out: 'unused' });
  const benchmark = sineBenchmark(base);
  const names = Object.keys(tf.tidy(() => benchmark.model.init(Rng.fromSeed(0))));
  const variants: [string, TrainConfig, readonly Algorithm[]][] = [
    ['defaults', base, ALGORITHMS],
    ['layer-wise scales', { ...base, innerRateScale: `${names[0]}=0.5`, metaStepScale: `${names[1]}=2` }, ['reptile']],
    ['Adam outer update, SGD momentum, serial workers', { ...base, metaOptimizer: 'adam', momentum: 0.5, workers: 0, metaStepFinal: 0.05 }, ALGORITHMS],
    ['fresh inner state', { ...base, momentum: 0.5, freshInnerState: true }, ALGORITHMS],
  ];
  const setup = { model: benchmark.model, loss: benchmark.loss, layout: benchmark.trainTasks };
  const before = tf.memory().numTensors;
  for (const [what, config, algorithms] of variants) {
    for (const algorithm of algorithms) {
      const theta0 = benchmark.model.init(Rng.fromSeed(config.seed));
      const cli = await trained(buildLearner(algorithm, config, setup, theta0), config, benchmark.trainTasks);
      const mapped = await trained(fromOptions(algorithm, config, setup, theta0), config, benchmark.trainTasks);
      disposeParams(theta0);
      assert.deepEqual(mapped, cli, `${what}: ${algorithm}`);
    }
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
});

test('scheduleOptions and evaluationOptions take their flags', () => {
  const config = resolveTrainConfig('omniglot', { metaIters: 7, metaStep: 0.5, metaStepFinal: 0.1, evalInterval: 3, checkpointInterval: 2, evalIters: 4, evalBatch: 0, transductive: true, out: 'unused' });
  assert.deepEqual(scheduleOptions(config), { metaIters: 7, metaStep: 0.5, metaStepFinal: 0.1, evalInterval: 3, checkpointInterval: 2 });
  const evaluation = evaluationOptions(config);
  assert.deepEqual({ ...evaluation, optimizer: evaluation.optimizer.config }, { evalIters: 4, evalBatch: 0, transductive: true, optimizer: adaptationOf(config).optimizer.config, kernels: process.env.REPTILE_NATIVE === '0' ? ['fused-mlp', 'fused-cnn-wasm'] : 'all' });
  assert.equal(evaluationOptions({ ...config, innerLoop: 'tfjs' }).kernels, 'none', '--inner-loop tfjs allows no kernel');
  assert.equal(evaluation.optimizer.name, 'adam');
  assert.equal(evaluation.optimizer.config.learningRate, config.learningRate);
});
