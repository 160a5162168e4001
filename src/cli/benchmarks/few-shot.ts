/**
 * Few-shot classification as a benchmark of `reptile train`, whatever the examples are (images,
 * texts): N-way K-shot episodes over the classes of a split, the original eval.py protocol,
 * periodic accuracy on train and test tasks (and validation, if there is such a split).
 */
import { Rng } from '../../core/rng.js';
import { crossEntropy } from '../../nn/losses.js';
import type { Model } from '../../nn/model.js';
import { FewShotClassification, type ExampleClass } from '../../tasks/few-shot.js';
import { evaluateClassification, type ClassificationEval, type TaskScorer } from '../../eval/classification.js';
import type { ChartPanel } from '../../io/charts.js';
import { evaluationOptions } from '../library-options.js';
import { runStreams } from '../streams.js';
import { writeChart } from '../charts.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export interface ClassSplits {
  train: readonly ExampleClass[];
  test: readonly ExampleClass[];
  validation?: readonly ExampleClass[];
}

export interface FewShotBenchmarkOptions {
  /** Query examples per class in an evaluation task (the original: 1). */
  queryShots?: number;
  /** Extra settings for config.json (e.g. the class split). */
  recorded?: Record<string, unknown>;
  /** Also evaluate the validation split at the end (default true; periodic evaluations always do). */
  finalValidation?: boolean;
}

export function fewShotBenchmark(config: TrainConfig, name: string, model: Model, inputShape: number[], splits: ClassSplits, options: FewShotBenchmarkOptions = {}): BenchmarkSetup {
  // The original minimises the sum of per-example cross-entropies (it matters for --sgd).
  const loss = crossEntropy('sum');
  const ways = config.classes!;
  const queryShots = options.queryShots ?? 1;
  const taskOptions = { ways, trainShots: config.trainShots, shots: config.shots, queryShots };
  const distribution = (name: string, classes: readonly ExampleClass[]) => new FewShotClassification(name, classes, inputShape, taskOptions);
  let train: FewShotClassification;
  let evalSets: Record<string, FewShotClassification>;
  const validating = config.evalSplit === 'validation';
  const hasValidation = Boolean(splits.validation && splits.validation.length > 0);
  if (validating && !hasValidation) {
    const hint = name === 'omniglot' ? '; use --split maml' : name === 'images' ? '; add a val/ folder' : '';
    throw new UsageError(`--eval-split validation: ${name}'s split has no validation classes${hint}`);
  }
  const trainClasses = config.trainClasses ? splits.train.slice(0, config.trainClasses) : splits.train;
  try {
    // No training classes (a model evaluated on another data set's classes): train is never sampled.
    train = distribution('train', trainClasses.length > 0 ? trainClasses : splits.test);
    const trainSet: Record<string, FewShotClassification> = trainClasses.length > 0 ? { train } : {};
    // Evaluating on validation (tuning) leaves the test split untouched, also at periodic points.
    evalSets = validating ? trainSet : { ...trainSet, test: distribution('test', splits.test) };
    if (hasValidation) evalSets.validation = distribution('validation', splits.validation!);
  } catch (error) {
    const query = options.queryShots !== undefined ? ` --query-shots ${queryShots}` : '';
    const classes = config.trainClasses ? ` --train-classes ${config.trainClasses}` : '';
    throw new UsageError(`--classes ${ways} --shots ${config.shots} --train-shots ${config.trainShots}${query}${classes}: ${(error as Error).message}`);
  }
  const finalSplit = validating ? 'validation' : 'test';
  const streams = runStreams(config.seed);
  const adaptation = evaluationOptions(config);
  const evaluate = (params: Parameters<typeof evaluateClassification>[3], tasks: FewShotClassification, state: number[], count: number, scorer: TaskScorer | undefined) =>
    evaluateClassification(model, loss, tasks, params, (rng) => tasks.sampleEvalTask(rng), { ...adaptation, tasks: count, scorer }, Rng.fromState(state));
  const withQueries = (r: ClassificationEval) => (options.queryShots !== undefined ? { ...r, queryShots } : r);

  return {
    name,
    model,
    loss,
    trainTasks: train,
    ...(options.recorded ? { recorded: options.recorded } : {}),
    async evaluatePeriodic(params, scorer) {
      const metrics: Record<string, number> = {};
      for (const [name, tasks] of Object.entries(evalSets)) {
        const r = await evaluate(params, tasks, streams.intervalEval, config.evalIntervalSamples, scorer);
        metrics[`${name}Accuracy`] = r.accuracy;
        metrics[`${name}Ci95`] = r.ci95;
      }
      return metrics;
    },
    async evaluateFinal(params, scorer) {
      const main = await evaluate(params, evalSets[finalSplit], streams.finalEval, config.evalSamples, scorer);
      const result: Record<string, unknown> = { ...withQueries(main), split: finalSplit };
      if (!validating && evalSets.validation && options.finalValidation !== false) result.validation = withQueries(await evaluate(params, evalSets.validation, streams.finalEval, config.evalSamples, scorer));
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
