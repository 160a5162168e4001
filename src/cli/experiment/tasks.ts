/**
 * `reptile experiment tasks` (the article's 5.3.1): how the result depends on how many distinct
 * training tasks (sine: a pool of fixed tasks; Omniglot: training classes) meta-training may use,
 * and on the meta-batch size (tasks averaged per meta-step).
 */
import type { ChartPanel } from '../../io/charts.js';
import type { Cell } from './cells.js';
import { baseSettings, seedList, type Experiment, type ExperimentBenchmark } from './experiment.js';
import { chart, statsTable, sweepSeries } from './report.js';
import { metricOf } from './rows.js';

/** Pool sizes (sine tasks, Omniglot classes); 0 is "all": fresh sine tasks, all 4800 classes. */
export const TASK_COUNTS: Record<ExperimentBenchmark, number[]> = { sine: [10, 50, 200, 0], omniglot: [10, 50, 200, 0] };
export const META_BATCHES = [1, 2, 5, 10];
const ALL_OMNIGLOT_CLASSES = 4800;

const poolKey = (b: ExperimentBenchmark) => (b === 'sine' ? 'trainTasks' : 'trainClasses');
const poolWord = (b: ExperimentBenchmark) => (b === 'sine' ? 'training tasks' : 'training classes');

export const tasksExperiment: Experiment = {
  name: 'tasks',
  title: 'performance against the number of training tasks and the meta-batch size (5.3.1)',
  summary: 'accuracy / MSE against the number of distinct training tasks (sine) or classes (Omniglot), and against the meta-batch size',
  defaults: { seeds: 2, benchmarks: ['sine', 'omniglot'] },
  cells(options) {
    const cells: Cell[] = [];
    for (const benchmark of options.benchmarks) {
      for (const seed of seedList(options)) {
        const base = baseSettings(benchmark, options, seed);
        const defaultBatch = benchmark === 'sine' ? 1 : 5;
        for (const count of TASK_COUNTS[benchmark]) {
          cells.push({ benchmark, labels: { sweep: poolWord(benchmark), point: count || 'all' }, settings: { ...base, [poolKey(benchmark)]: count, metaBatch: defaultBatch } });
        }
        for (const metaBatch of META_BATCHES) {
          cells.push({ benchmark, labels: { sweep: 'meta-batch', point: metaBatch }, settings: { ...base, [poolKey(benchmark)]: 0, metaBatch } });
        }
      }
    }
    return cells;
  },
  async report(results, rows, options, chartsDir) {
    const sections: string[] = [];
    for (const benchmark of options.benchmarks) {
      const metric = metricOf(benchmark);
      const mine = rows.filter((r) => r.benchmark === benchmark);
      const pool = mine.filter((r) => r.sweep === poolWord(benchmark));
      const batch = mine.filter((r) => r.sweep === 'meta-batch');
      const defaultBatch = benchmark === 'sine' ? 1 : 5;
      // "all" as a number on the chart: Omniglot's 4800 classes; sine has no finite count, so its
      // "all" is a flat reference line over the pool sizes instead.
      const numeric = pool.map((r) => ({ ...r, point: r.point === 'all' ? (benchmark === 'sine' ? NaN : ALL_OMNIGLOT_CLASSES) : r.point }));
      const panels: ChartPanel[] = [
        { title: `${benchmark}: against ${poolWord(benchmark)}`, xLabel: `${poolWord(benchmark)} (log)`, yLabel: metric.label, xLog: true, yLog: metric.key === 'mseAfter', series: sweepSeries(numeric.filter((r) => Number.isFinite(Number(r.point))), 'point', [], metric) },
        { title: `${benchmark}: against meta-batch size`, xLabel: 'meta-batch (tasks per meta-step, log)', yLabel: metric.label, xLog: true, yLog: metric.key === 'mseAfter', series: sweepSeries(batch, 'point', [], metric) },
      ];
      if (benchmark === 'sine') {
        const unlimited = pool.filter((r) => r.point === 'all' && r.status === 'done').map((r) => Number(r.value));
        const counts = TASK_COUNTS.sine.filter((c) => c > 0);
        if (unlimited.length) {
          const m = unlimited.reduce((a, b) => a + b, 0) / unlimited.length;
          panels[0].series.push({ label: 'fresh task every time', x: [Math.min(...counts), Math.max(...counts)], y: [m, m], dashed: true });
        }
      }
      sections.push(
        `## ${benchmark === 'sine' ? 'Sine-wave regression' : 'Omniglot 5-way 1-shot (MLP)'}`,
        '',
        `### Against the number of ${poolWord(benchmark)} (meta-batch ${defaultBatch})`,
        '',
        benchmark === 'sine'
          ? 'A pool of N sine tasks is drawn once per run; every meta-training task is one of them. "all" draws a fresh task every time. Evaluation tasks are always new.'
          : 'Meta-training draws its 5-way tasks from the first N classes of the shuffled training split (character-major, so 4 rotations per character); "all" is all 4800. Test characters are never trained on.',
        '',
        statsTable(pool, ['point'], [poolWord(benchmark)], metric),
        '',
        `### Against the meta-batch size (all ${poolWord(benchmark)})`,
        '',
        statsTable(batch, ['point'], ['meta-batch'], metric),
        '',
        await chart(chartsDir, `${benchmark}-tasks`, panels, `${benchmark}: ${metric.label}`),
        '',
      );
    }
    return sections.join('\n');
  },
};
