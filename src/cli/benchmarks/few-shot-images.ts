/**
 * Few-shot image classification as a benchmark of `reptile train`: N-way K-shot episodes over the
 * classes of a split, the original eval.py protocol, periodic accuracy on train and test tasks.
 * Omniglot and a user's image folders both come through here.
 */
import { Rng } from '../../core/rng.js';
import { mlp } from '../../nn/mlp.js';
import { conv } from '../../nn/conv.js';
import { crossEntropy } from '../../nn/losses.js';
import type { Model } from '../../nn/model.js';
import { FewShotClassification } from '../../tasks/few-shot.js';
import { evaluateClassification, type ClassificationEval } from '../../eval/classification.js';
import type { ImageClassSet } from '../../data/image-class.js';
import type { ChartPanel } from '../../io/charts.js';
import { innerOptimizer } from '../build.js';
import { runStreams } from '../streams.js';
import { writeChart } from '../charts.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../train-options.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The network `config.model` names, for N-way tasks on images of `inputShape` [h, w, c]. */
export function imageModel(config: TrainConfig, inputShape: number[]): Model {
  const classes = config.classes!;
  switch (config.model) {
    case 'mlp':
      return mlp([inputShape.reduce((a, b) => a * b, 1), ...config.hidden, classes], { activation: config.activation, init: config.init });
    case 'conv':
      return conv({ variant: 'omniglot', classes, inputShape, init: config.init });
    case 'conv-miniimagenet':
      return conv({ variant: 'miniimagenet', classes, inputShape, init: config.init });
  }
}

export interface ImageSplits {
  train: ImageClassSet;
  test: ImageClassSet;
  validation?: ImageClassSet;
}

/**
 * N-way K-shot classification on image classes (Omniglot, or a user's folders): meta-train on the
 * train split's classes, evaluate on the test split's (and the validation split's, if any).
 */
export function fewShotImageBenchmark(config: TrainConfig, name: string, splits: ImageSplits): BenchmarkSetup {
  const inputShape = [splits.train.size, splits.train.size, splits.train.channels];
  const model = imageModel(config, inputShape);
  // The original minimises the sum of per-example cross-entropies (it matters for --sgd).
  const loss = crossEntropy('sum');
  const ways = config.classes!;
  const taskOptions = { ways, trainShots: config.trainShots, shots: config.shots };
  const distribution = (name: string, classes: ConstructorParameters<typeof FewShotClassification>[1]) =>
    new FewShotClassification(name, classes, inputShape, taskOptions);
  let train: FewShotClassification;
  let evalSets: Record<string, FewShotClassification>;
  const validating = config.evalSplit === 'validation';
  const hasValidation = Boolean(splits.validation && splits.validation.classes.length > 0);
  if (validating && !hasValidation) throw new UsageError(`--eval-split validation: ${name}'s split has no validation classes${name === 'omniglot' ? '; use --split maml' : '; add a val/ folder'}`);
  const trainClasses = config.trainClasses ? splits.train.classes.slice(0, config.trainClasses) : splits.train.classes;
  try {
    train = distribution('train', trainClasses);
    // Evaluating on validation (tuning) leaves the test split untouched, also at periodic points.
    evalSets = validating ? { train } : { train, test: distribution('test', splits.test.classes) };
    if (hasValidation) evalSets.validation = distribution('validation', splits.validation!.classes);
  } catch (error) {
    throw new UsageError(`--classes ${ways} --shots ${config.shots} --train-shots ${config.trainShots}${config.trainClasses ? ` --train-classes ${config.trainClasses}` : ''}: ${(error as Error).message}`);
  }
  const finalSplit = validating ? 'validation' : 'test';
  const streams = runStreams(config.seed);
  const adaptation = { evalIters: config.evalIters, evalBatch: config.evalBatch, optimizer: innerOptimizer(config), transductive: Boolean(config.transductive) };
  const evaluate = (params: Parameters<typeof evaluateClassification>[3], tasks: FewShotClassification, state: number[], count: number) =>
    evaluateClassification(model, loss, tasks, params, (rng) => tasks.sampleEvalTask(rng), { ...adaptation, tasks: count }, Rng.fromState(state));

  return {
    name,
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
      const main = await evaluate(params, evalSets[finalSplit], streams.finalEval, config.evalSamples);
      const result: Record<string, unknown> = { ...main, split: finalSplit };
      if (!validating && evalSets.validation) result.validation = await evaluate(params, evalSets.validation, streams.finalEval, config.evalSamples);
      return result;
    },
    describePeriodic: (m) => `train ${pct(m.trainAccuracy)} ${finalSplit} ${pct(m[`${finalSplit}Accuracy`])}`,
    describeFinal(algorithm, e) {
      const r = e as unknown as ClassificationEval;
      return `${algorithm}: ${r.ways}-way ${r.shots}-shot accuracy on ${r.tasks} ${finalSplit} tasks ${pct(r.accuracy)} +- ${pct(r.ci95)}${r.transductive ? ' (transductive)' : ''}`;
    },
    compare(summary) {
      if (!summary.baseline) return undefined;
      return `${summary.algorithm} ${pct(Number(summary.eval.accuracy))} vs ${summary.baseline.algorithm} ${pct(Number(summary.baseline.eval.accuracy))}`;
    },
    async writeCharts(runDir, metrics, learners) {
      const panel: ChartPanel = {
        title: `${name} ${ways}-way ${config.shots}-shot: accuracy on new tasks`,
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
