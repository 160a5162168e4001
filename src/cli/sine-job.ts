/**
 * `reptile train sine`: meta-train on sine waves, train the baseline at the same budget,
 * evaluate both on the same new tasks, and write the run directory.
 */
import { Rng } from '../core/rng.js';
import { useBackend } from '../core/backend.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import { mlp } from '../nn/mlp.js';
import { meanSquaredError } from '../nn/losses.js';
import type { Model } from '../nn/model.js';
import { SineDistribution } from '../tasks/sine.js';
import type { MetaLearner } from '../algorithms/meta-learner.js';
import { adaptAndTrace, evaluateRegression, type RegressionEval } from '../eval/regression.js';
import { metaTrain } from '../train/meta-train.js';
import { RunDir, RUN_FILES } from '../io/run-dir.js';
import { saveModel } from '../io/model-files.js';
import { writeFileAtomic } from '../io/files.js';
import { renderChartSvg, svgToPng, type ChartPanel } from '../io/charts.js';
import { buildLearner, innerOptimizer } from './build.js';
import { createProgress } from './progress.js';
import { runMetadata } from './metadata.js';
import type { TrainConfig } from './train-options.js';
import { UsageError } from './errors.js';

export interface AlgorithmResult {
  algorithm: string;
  /** Meta-training time including periodic evaluations. */
  wallSeconds: number;
  /** Meta-training time without the periodic evaluations. */
  trainingSeconds: number;
  /** Meta-iterations per second of training time. */
  metaItersPerSecond: number;
  eval: RegressionEval;
}

export interface SineSummary {
  benchmark: 'sine';
  algorithm: string;
  metaIters: number;
  /** The whole run: both algorithms, evaluations, charts. */
  wallSeconds: number;
  trainingSeconds: number;
  metaItersPerSecond: number;
  msPerMetaIteration: number;
  backend: string;
  eval: RegressionEval;
  baseline?: AlgorithmResult;
  runDir: string;
}

/** Independent random streams, all from the one seed. */
function streams(seed: number) {
  const root = Rng.fromSeed(seed);
  return {
    init: root.fork(),
    tasks: root.fork(),
    batches: root.fork(),
    baselineTasks: root.fork(),
    baselineBatches: root.fork(),
    // Evaluation streams are saved as states so every learner is scored on the same tasks.
    intervalEval: root.fork().state(),
    finalEval: root.fork().state(),
    charts: root.fork().state(),
  };
}

export async function runSineJob(config: TrainConfig, log: (line: string) => void): Promise<SineSummary> {
  const distribution = new SineDistribution({ trainPoints: config.trainShots, shots: config.shots });
  const model = mlp([1, ...config.hidden, 1], { activation: config.activation, init: config.init });
  const loss = meanSquaredError();
  const setup = { model, loss, layout: distribution };
  const rngs = streams(config.seed);

  // The backend first: a backend that is not installed must not cost the user an old run.
  let backend: Awaited<ReturnType<typeof useBackend>>;
  try {
    backend = await useBackend(config.backend);
  } catch (error) {
    throw new UsageError(`--backend ${config.backend}: ${(error as Error).message}`);
  }
  const runDir = await RunDir.create(config.out, { force: config.force });
  await runDir.writeConfig({ ...config, backendUsed: backend, model: model.spec, ...runMetadata() });

  const evalOptions = { evalIters: config.evalIters, evalBatch: config.evalBatch, optimizer: innerOptimizer(config) };
  const evaluate = (params: ParamSet, state: number[], tasks: number) =>
    evaluateRegression(model, loss, distribution, params, (rng) => distribution.sampleEvalTask(rng), { ...evalOptions, tasks }, Rng.fromState(state));

  const theta0 = model.init(rngs.init);
  const runStart = performance.now();

  async function train(learner: MetaLearner, taskRng: Rng, batchRng: Rng): Promise<AlgorithmResult> {
    const progress = createProgress(learner.algorithm, config.metaIters);
    const start = performance.now();
    let lossSum = 0;
    let lossCount = 0;
    let evalSeconds = 0;
    try {
      await metaTrain(learner, distribution, { tasks: taskRng, batches: batchRng }, {
        metaIters: config.metaIters,
        metaStep: config.metaStep,
        metaStepFinal: config.metaStepFinal,
        evalInterval: config.evalInterval,
        onIteration(iteration, value) {
          lossSum += value;
          lossCount++;
          progress.update(iteration);
        },
        async onEvaluate(iteration) {
          const evalStart = performance.now();
          const result = await evaluate(learner.params, rngs.intervalEval, config.evalIntervalSamples);
          await runDir.appendMetrics({
            iteration,
            elapsedSeconds: (performance.now() - runStart) / 1000,
            algorithm: learner.algorithm,
            trainLoss: lossSum / Math.max(1, lossCount),
            mseBefore: result.mseBefore,
            mseAfter: result.mseAfter,
            ci95: result.ci95,
            tasks: result.tasks,
          });
          progress.evaluation(iteration, `mse after ${config.evalIters} steps ${result.mseAfter.toFixed(3)}`);
          lossSum = 0;
          lossCount = 0;
          evalSeconds += (performance.now() - evalStart) / 1000;
        },
      }, `look at --learning-rate (${config.learningRate}), --meta-step (${config.metaStep}) and --inner-iters (${config.innerIters})`);
    } finally {
      progress.stop();
    }
    const wallSeconds = (performance.now() - start) / 1000;
    const trainingSeconds = wallSeconds - evalSeconds;
    const result = await evaluate(learner.params, rngs.finalEval, config.evalSamples);
    return { algorithm: learner.algorithm, wallSeconds, trainingSeconds, metaItersPerSecond: config.metaIters / trainingSeconds, eval: result };
  }

  const learner = buildLearner(config.algorithm, config, setup, theta0);
  let baseline: MetaLearner | undefined;
  try {
    const main = await train(learner, rngs.tasks, rngs.batches);
    await saveModel(runDir.file(RUN_FILES.model), model, learner.params, { benchmark: 'sine', algorithm: config.algorithm, seed: config.seed });
    log(`${main.algorithm}: MSE on new tasks before adaptation ${fmt(main.eval.mseBefore)}, after ${config.evalIters} steps ${fmt(main.eval.mseAfter)} +- ${fmt(main.eval.ci95)}`);

    let baselineResult: AlgorithmResult | undefined;
    if (config.baseline !== 'none' && config.baseline !== config.algorithm) {
      baseline = buildLearner(config.baseline, config, setup, theta0);
      baselineResult = await train(baseline, rngs.baselineTasks, rngs.baselineBatches);
      log(`${baselineResult.algorithm} (baseline): MSE before ${fmt(baselineResult.eval.mseBefore)}, after ${config.evalIters} steps ${fmt(baselineResult.eval.mseAfter)} +- ${fmt(baselineResult.eval.ci95)}`);
    }

    await writeCharts(runDir, config, model, distribution, rngs.charts, [learner, ...(baseline ? [baseline] : [])]);
    const summary: SineSummary = {
      benchmark: 'sine',
      algorithm: config.algorithm,
      metaIters: config.metaIters,
      wallSeconds: (performance.now() - runStart) / 1000,
      trainingSeconds: main.trainingSeconds,
      metaItersPerSecond: main.metaItersPerSecond,
      msPerMetaIteration: (1000 * main.trainingSeconds) / config.metaIters,
      backend,
      eval: main.eval,
      ...(baselineResult ? { baseline: baselineResult } : {}),
      runDir: config.out,
    };
    await runDir.writeSummary(summary);
    return summary;
  } finally {
    learner.dispose();
    baseline?.dispose();
    disposeParams(theta0);
  }
}

const fmt = (x: number) => x.toFixed(3);

/** The learning curve, and the paper's Figure 1: a few new tasks, the given points, fits after 0, 1 and k steps. */
async function writeCharts(runDir: RunDir, config: TrainConfig, model: Model, distribution: SineDistribution, chartState: number[], learners: MetaLearner[]): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const lines = (await readFile(runDir.file(RUN_FILES.metrics), 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const curve: ChartPanel = {
    title: `Sine: MSE on new tasks after ${config.evalIters} steps`,
    xLabel: 'meta-iteration',
    yLabel: 'MSE',
    yLog: true,
    series: learners.map((l) => {
      const points = lines.filter((p) => p.algorithm === l.algorithm);
      return { label: l.algorithm, x: points.map((p) => p.iteration), y: points.map((p) => p.mseAfter) };
    }),
  };
  await writeChart(runDir, 'learning-curve', [curve], { columns: 1 });

  const steps = [...new Set([0, Math.min(1, config.evalIters), config.evalIters])];
  const chartRng = Rng.fromState(chartState);
  const tasks = [0, 1, 2].map(() => distribution.sampleEvalTask(chartRng));
  const grid = Array.from(distribution.grid);
  const panels: ChartPanel[] = [];
  const evalOptions = { evalIters: config.evalIters, evalBatch: config.evalBatch, optimizer: innerOptimizer(config) };
  for (const learner of learners) {
    for (const [i, task] of tasks.entries()) {
      const trace = await adaptAndTrace(model, learner.loss, distribution, learner.params, task, evalOptions, steps, Rng.fromState(chartState), true);
      panels.push({
        title: `${learner.algorithm}, task ${i + 1}`,
        xLabel: 'x',
        yLabel: 'y',
        series: [
          { label: 'true', x: grid, y: Array.from(task.query.y), dashed: true },
          { label: `${config.shots} given points`, x: Array.from(task.support.x), y: Array.from(task.support.y), mark: 'point' },
          ...steps.map((s, j) => ({ label: `after ${s} step${s === 1 ? '' : 's'}`, x: grid, y: Array.from(trace.predictions![j]) })),
        ],
      });
    }
  }
  await writeChart(runDir, 'fits', panels, { columns: 3, title: 'Adapting to new sine tasks' });
}

async function writeChart(runDir: RunDir, name: string, panels: ChartPanel[], options: { columns: number; title?: string }): Promise<void> {
  const svg = await renderChartSvg(panels, options);
  await writeFileAtomic(runDir.file(`${RUN_FILES.charts}/${name}.svg`), svg);
  await writeFileAtomic(runDir.file(`${RUN_FILES.charts}/${name}.png`), await svgToPng(svg));
}
