/** The sine-wave benchmark (the Reptile paper's Figure 1) for `reptile train sine`. */
import { Rng } from '../../core/rng.js';
import { mlp } from '../../nn/mlp.js';
import { meanSquaredError } from '../../nn/losses.js';
import { SineDistribution } from '../../tasks/sine.js';
import { TaskPool } from '../../tasks/task-pool.js';
import type { MetaLearner } from '../../algorithms/meta-learner.js';
import { adaptAndTrace, evaluateRegression, type RegressionEval } from '../../eval/regression.js';
import type { RunDir } from '../../io/run-dir.js';
import type { ChartPanel } from '../../io/charts.js';
import { evaluationOptions } from '../library-options.js';
import { runStreams } from '../streams.js';
import { writeChart } from '../charts.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { fitUserModel, type UserModel } from '../model-file.js';

const fmt = (x: number) => x.toFixed(3);

/** `user`: the network of --model-file, instead of --hidden's MLP. */
export function sineBenchmark(config: TrainConfig, user?: UserModel): BenchmarkSetup {
  const tasks = new SineDistribution({ trainPoints: config.trainShots, shots: config.shots });
  const model = user ? fitUserModel(user, 'sine', [1], 1) : mlp([1, ...config.hidden, 1], { activation: config.activation, init: config.init });
  const loss = meanSquaredError();
  const streams = runStreams(config.seed);
  const trainTasks = config.trainTasks ? new TaskPool(tasks, config.trainTasks, streams.pool) : tasks;
  // Validation tasks come from their own stream, so selecting on them never looks at test tasks.
  const evalStream = config.evalSplit === 'validation' ? { interval: streams.validationEval, final: streams.validationEval } : { interval: streams.intervalEval, final: streams.finalEval };
  const adaptation = evaluationOptions(config);
  const evaluate = (params: Parameters<typeof evaluateRegression>[3], state: number[], count: number) =>
    evaluateRegression(model, loss, tasks, params, (rng) => tasks.sampleEvalTask(rng), { ...adaptation, tasks: count }, Rng.fromState(state));

  return {
    name: 'sine',
    model,
    loss,
    trainTasks,
    async evaluatePeriodic(params) {
      const r = await evaluate(params, evalStream.interval, config.evalIntervalSamples);
      return { mseBefore: r.mseBefore, mseAfter: r.mseAfter, ci95: r.ci95, tasks: r.tasks };
    },
    async evaluateFinal(params) {
      return { ...(await evaluate(params, evalStream.final, config.evalSamples)), split: config.evalSplit };
    },
    describePeriodic: (m) => `mse after ${config.evalIters} steps ${fmt(m.mseAfter)}`,
    describeFinal(algorithm, e) {
      const r = e as unknown as RegressionEval;
      return `${algorithm}: MSE on new tasks before adaptation ${fmt(r.mseBefore)}, after ${config.evalIters} steps ${fmt(r.mseAfter)} +- ${fmt(r.ci95)}`;
    },
    compare(summary) {
      if (!summary.baseline) return undefined;
      const ratio = Number(summary.eval.mseAfter) / Number(summary.baseline.eval.mseAfter);
      return `${summary.algorithm}'s MSE after adaptation is ${(100 * ratio).toFixed(1)}% of ${summary.baseline.algorithm}'s.`;
    },
    async writeCharts(runDir: RunDir, metrics, learners: MetaLearner[]) {
      const curve: ChartPanel = {
        title: `Sine: MSE on new tasks after ${config.evalIters} steps`,
        xLabel: 'meta-iteration',
        yLabel: 'MSE',
        yLog: true,
        series: learners.map((l) => {
          const points = metrics.filter((p) => p.algorithm === l.algorithm);
          return { label: l.algorithm, x: points.map((p) => Number(p.iteration)), y: points.map((p) => Number(p.mseAfter)) };
        }),
      };
      await writeChart(runDir, 'learning-curve', [curve], { columns: 1 });

      // The paper's Figure 1: new tasks, the given points, and the fits after 0, 1 and k steps.
      const steps = [...new Set([0, Math.min(1, config.evalIters), config.evalIters])];
      const chartRng = Rng.fromState(streams.charts);
      const shown = [0, 1, 2].map(() => tasks.sampleEvalTask(chartRng));
      const grid = Array.from(tasks.grid);
      const panels: ChartPanel[] = [];
      for (const learner of learners) {
        for (const [i, task] of shown.entries()) {
          const trace = await adaptAndTrace(model, loss, tasks, learner.params, task, adaptation, steps, Rng.fromState(streams.charts), true);
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
    },
  };
}
