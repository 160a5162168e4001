/** Few-shot Omniglot classification (the Reptile and MAML papers' benchmark) for `reptile train omniglot`. */
import { Rng } from '../../core/rng.js';
import { mlp } from '../../nn/mlp.js';
import { omniglotConv } from '../../nn/conv.js';
import { crossEntropy } from '../../nn/losses.js';
import type { Model } from '../../nn/model.js';
import { FewShotClassification } from '../../tasks/few-shot.js';
import { evaluateClassification, type ClassificationEval } from '../../eval/classification.js';
import { splitOmniglot } from '../../data/splits.js';
import { DatasetError } from '../../data/errors.js';
import { loadOmniglot } from '../../io/omniglot-files.js';
import { userCacheDir } from '../../io/dataset-cache.js';
import type { ChartPanel } from '../../io/charts.js';
import { innerOptimizer } from '../build.js';
import { runStreams } from '../streams.js';
import { writeChart } from '../charts.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../train-options.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The network `config.model` names, for N-way tasks on 28x28 greyscale images. */
export function omniglotModel(config: TrainConfig): Model {
  const classes = config.classes!;
  switch (config.model) {
    case 'mlp':
      return mlp([28 * 28, ...config.hidden, classes], { activation: config.activation, init: config.init });
    case 'conv':
      return omniglotConv(classes, { init: config.init });
    case 'conv-miniimagenet':
      throw new UsageError("--model conv-miniimagenet takes 84x84 RGB images, not Omniglot's 28x28: use --model conv or mlp");
  }
}

/** Loads the archives in `config.data`, with errors that name the flag or the file. */
export async function loadOmniglotSplits(config: TrainConfig, log: (line: string) => void = () => {}) {
  let data;
  try {
    // The cache goes to the user's cache directory, never into the data directory (it may be shared or read-only).
    data = await loadOmniglot(config.data!, { cacheDir: process.env.REPTILE_CACHE_DIR ?? userCacheDir() });
  } catch (error) {
    if (error instanceof DatasetError) {
      throw new UsageError(`--data ${config.data}: ${error.message}${/no such directory/.test(error.message) ? "; fetch the archives with 'reptile data omniglot --out DIR'" : ''}`);
    }
    throw error;
  }
  if (data.cache.status !== 'hit') log(`omniglot: decoded ${data.characters.length} characters in ${data.seconds.toFixed(1)} s (cache: ${data.cache.status}${data.cache.file ? ` ${data.cache.file}` : ''})`);
  return splitOmniglot(data, { scheme: config.split, seed: config.splitSeed });
}

export async function omniglotBenchmark(config: TrainConfig, log: (line: string) => void): Promise<BenchmarkSetup> {
  const splits = await loadOmniglotSplits(config, log);
  const model = omniglotModel(config);
  // The original minimises the sum of per-example cross-entropies (it matters for --sgd).
  const loss = crossEntropy('sum');
  const ways = config.classes!;
  const taskOptions = { ways, trainShots: config.trainShots, shots: config.shots };
  const inputShape = [28, 28, 1];
  const distribution = (name: string, classes: ConstructorParameters<typeof FewShotClassification>[1]) =>
    new FewShotClassification(name, classes, inputShape, taskOptions);
  let train: FewShotClassification;
  let evalSets: Record<string, FewShotClassification>;
  try {
    train = distribution('train', splits.train.classes);
    evalSets = { train, test: distribution('test', splits.test.classes) };
    if (splits.validation && splits.validation.classes.length > 0) evalSets.validation = distribution('validation', splits.validation.classes);
  } catch (error) {
    throw new UsageError(`--classes ${ways} --shots ${config.shots} --train-shots ${config.trainShots}: ${(error as Error).message}`);
  }
  const streams = runStreams(config.seed);
  const adaptation = { evalIters: config.evalIters, evalBatch: config.evalBatch, optimizer: innerOptimizer(config), transductive: Boolean(config.transductive) };
  const evaluate = (params: Parameters<typeof evaluateClassification>[3], tasks: FewShotClassification, state: number[], count: number) =>
    evaluateClassification(model, loss, tasks, params, (rng) => tasks.sampleEvalTask(rng), { ...adaptation, tasks: count }, Rng.fromState(state));

  return {
    name: 'omniglot',
    model,
    loss,
    trainTasks: train,
    async evaluatePeriodic(params) {
      const metrics: Record<string, number> = {};
      for (const [name, tasks] of Object.entries(evalSets)) {
        const r = await evaluate(params, tasks, streams.intervalEval, config.evalIntervalSamples);
        metrics[`${name}Accuracy`] = r.accuracy;
        metrics[`${name}Ci95`] = r.ci95;
      }
      return metrics;
    },
    async evaluateFinal(params) {
      const test = await evaluate(params, evalSets.test, streams.finalEval, config.evalSamples);
      const result: Record<string, unknown> = { ...test, split: 'test' };
      if (evalSets.validation) result.validation = await evaluate(params, evalSets.validation, streams.finalEval, config.evalSamples);
      return result;
    },
    describePeriodic: (m) => `train ${pct(m.trainAccuracy)} test ${pct(m.testAccuracy)}`,
    describeFinal(algorithm, e) {
      const r = e as unknown as ClassificationEval;
      return `${algorithm}: ${r.ways}-way ${r.shots}-shot accuracy on ${r.tasks} test tasks ${pct(r.accuracy)} +- ${pct(r.ci95)}${r.transductive ? ' (transductive)' : ''}`;
    },
    compare(summary) {
      if (!summary.baseline) return undefined;
      return `${summary.algorithm} ${pct(Number(summary.eval.accuracy))} vs ${summary.baseline.algorithm} ${pct(Number(summary.baseline.eval.accuracy))}`;
    },
    async writeCharts(runDir, metrics, learners) {
      const panel: ChartPanel = {
        title: `Omniglot ${ways}-way ${config.shots}-shot: accuracy on new tasks`,
        xLabel: 'meta-iteration',
        yLabel: 'accuracy',
        series: learners.flatMap((l) =>
          Object.keys(evalSets).map((split) => {
            const points = metrics.filter((p) => p.algorithm === l.algorithm);
            return { label: `${l.algorithm} ${split}`, x: points.map((p) => Number(p.iteration)), y: points.map((p) => Number(p[`${split}Accuracy`])), dashed: split === 'train' };
          }),
        ),
      };
      await writeChart(runDir, 'learning-curve', [panel], { columns: 1 });
    },
  };
}
