/**
 * `reptile experiment sensitivity` (the article's 5.3.3): one-at-a-time sweeps around the
 * benchmark's defaults over the inner learning rate, inner iterations, inner batch size,
 * meta-step and meta-batch, with several seeds per point. The default point is shared by every
 * sweep (it runs once per seed).
 */
import type { ChartPanel } from '../../io/charts.js';
import type { Cell, CellSettings } from './cells.js';
import { baseSettings, seedList, type Experiment, type ExperimentBenchmark } from './experiment.js';
import { chart, statsTable, sweepSeries } from './report.js';
import { metricOf } from './rows.js';

type Swept = 'learningRate' | 'innerIters' | 'innerBatch' | 'metaStep' | 'metaBatch';

/** Each sweep's values; the benchmark's default is among them (sine: the paper's demo; Omniglot: its 5-way setting). */
export const SWEEPS: Record<ExperimentBenchmark, { defaults: Record<Swept, number>; values: Record<Swept, number[]> }> = {
  sine: {
    defaults: { learningRate: 0.02, innerIters: 5, innerBatch: 10, metaStep: 0.1, metaBatch: 1 },
    values: {
      learningRate: [0.005, 0.01, 0.02, 0.04, 0.08],
      innerIters: [1, 2, 5, 10, 20],
      innerBatch: [2, 5, 10, 25, 50],
      metaStep: [0.025, 0.05, 0.1, 0.3, 1],
      metaBatch: [1, 2, 5, 10],
    },
  },
  omniglot: {
    defaults: { learningRate: 0.001, innerIters: 5, innerBatch: 10, metaStep: 1, metaBatch: 5 },
    values: {
      learningRate: [0.0003, 0.001, 0.003],
      innerIters: [1, 5, 10],
      innerBatch: [5, 10, 25],
      metaStep: [0.3, 1, 2],
      metaBatch: [1, 5, 10],
    },
  },
};

const TITLES: Record<Swept, string> = {
  learningRate: 'inner learning rate',
  innerIters: 'inner iterations',
  innerBatch: 'inner batch size',
  metaStep: 'meta-step (initial, annealed to 0)',
  metaBatch: 'meta-batch',
};

export const sensitivityExperiment: Experiment = {
  name: 'sensitivity',
  title: 'hyperparameter sensitivity, one at a time around the defaults (5.3.3)',
  summary: 'one-at-a-time sweeps of the inner learning rate, inner iterations, inner batch, meta-step and meta-batch',
  defaults: { seeds: 3, benchmarks: ['sine'] },
  cells(options) {
    const cells: Cell[] = [];
    for (const benchmark of options.benchmarks) {
      const { defaults, values } = SWEEPS[benchmark];
      for (const seed of seedList(options)) {
        const base: CellSettings = { ...baseSettings(benchmark, options, seed), ...defaults };
        for (const swept of Object.keys(values) as Swept[]) {
          for (const value of values[swept]) cells.push({ benchmark, labels: { sweep: swept, point: value }, settings: { ...base, [swept]: value } });
        }
      }
    }
    return cells;
  },
  async report(results, rows, options, chartsDir) {
    const sections: string[] = [];
    for (const benchmark of options.benchmarks) {
      const metric = metricOf(benchmark);
      const { defaults, values } = SWEEPS[benchmark];
      const mine = rows.filter((r) => r.benchmark === benchmark);
      const panels: ChartPanel[] = [];
      sections.push(`## ${benchmark === 'sine' ? 'Sine-wave regression' : 'Omniglot 5-way 1-shot (MLP)'}`, '', `Defaults: ${Object.entries(defaults).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
      for (const swept of Object.keys(values) as Swept[]) {
        const sweep = mine.filter((r) => r.sweep === swept);
        sections.push(`### ${TITLES[swept]}`, '', statsTable(sweep, ['point'], [swept], metric), '');
        panels.push({ title: TITLES[swept], xLabel: `${swept} (log)`, yLabel: metric.label, xLog: true, yLog: metric.key === 'mseAfter', series: sweepSeries(sweep, 'point', [], metric) });
      }
      sections.push(await chart(chartsDir, `${benchmark}-sensitivity`, panels, `${benchmark}: ${metric.label} against each hyperparameter (others at their defaults)`, 3), '');
    }
    return sections.join('\n');
  },
};
