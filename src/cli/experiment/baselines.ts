/**
 * `reptile experiment baselines` (the article's 5.3.2): Reptile, first-order MAML, MAML, training
 * from scratch and joint training, at the same budget (the same meta-iterations, inner steps and
 * evaluation), on sine waves and Omniglot 5-way 1-shot with the MLP.
 */
import { ALGORITHMS } from '../config.js';
import type { Cell, CellSettings } from './cells.js';
import { baseSettings, seedList, type Experiment, type ExperimentBenchmark } from './experiment.js';
import { chart, learningCurveSeries, statsTable } from './report.js';
import { metricOf } from './rows.js';

export const BASELINE_ALGORITHMS = ['reptile', 'fomaml', 'maml', 'scratch', 'joint'] as const;

/** The compared algorithms that this build of `reptile train` has. */
export function availableAlgorithms(): { run: string[]; missing: string[] } {
  const have = new Set<string>(ALGORITHMS);
  return { run: BASELINE_ALGORITHMS.filter((a) => have.has(a)), missing: BASELINE_ALGORITHMS.filter((a) => !have.has(a)) };
}

/**
 * What differs between algorithms besides --algorithm. Omniglot: every algorithm adapts with
 * inner SGD (lr 0.05, the sum of per-example losses), because MAML differentiates through SGD
 * steps, and one inner optimizer keeps the evaluation the same for all. FOMAML's and MAML's task
 * update is -lr * gradient (many times smaller than Reptile's phi - theta after k steps), so on
 * both benchmarks they take the MAML paper's outer Adam (0.001) instead of Reptile's
 * interpolation: with the interpolation, FOMAML on Omniglot stayed within scratch's interval at
 * this budget (47.3 +- 2.2 % against 46.5 +- 0.7 %).
 */
export function algorithmSettings(benchmark: ExperimentBenchmark, algorithm: string): CellSettings {
  const inner: CellSettings = benchmark === 'omniglot' ? { innerOptimizer: 'sgd', learningRate: 0.05 } : {};
  const outer: CellSettings = algorithm === 'fomaml' || algorithm === 'maml' ? { metaOptimizer: 'adam', metaStep: 0.001 } : {};
  return { ...inner, ...outer };
}

export const baselinesExperiment: Experiment = {
  name: 'baselines',
  title: 'Reptile against MAML, first-order MAML, training from scratch and joint training (5.3.2)',
  summary: `${BASELINE_ALGORITHMS.join(', ')} at equal budget on sine and Omniglot 5-way 1-shot (MLP)`,
  defaults: { seeds: 3, benchmarks: ['sine', 'omniglot'] },
  cells(options) {
    const cells: Cell[] = [];
    for (const benchmark of options.benchmarks) {
      for (const seed of seedList(options)) {
        for (const algorithm of availableAlgorithms().run) {
          cells.push({ benchmark, labels: { algorithm }, settings: { ...baseSettings(benchmark, options, seed, { curves: true }), ...algorithmSettings(benchmark, algorithm), algorithm: algorithm as Cell['settings']['algorithm'] } });
        }
      }
    }
    return cells;
  },
  async report(results, rows, options, chartsDir) {
    const { missing } = availableAlgorithms();
    const sections: string[] = [];
    if (missing.length) sections.push(`**Not run: ${missing.join(', ')}** (this build of \`reptile train\` has no \`--algorithm ${missing.join('|')}\`).`, '');
    sections.push(
      'Every algorithm gets the same budget: the same meta-iterations, each with meta-batch x inner-iterations inner steps ' +
        '(joint training takes that many steps: on sine on minibatches mixed across tasks, on Omniglot on minibatches of all training classes ' +
        'with their own labels, then a new N-way last layer is fine-tuned; training from scratch adapts from the initialisation ' +
        'without meta-training), and the same evaluation (the same new tasks, the same adaptation steps). ' +
        'On Omniglot every algorithm uses inner SGD with learning rate 0.05 (MAML differentiates through SGD steps); FOMAML and MAML ' +
        'take outer Adam steps of 0.001 on their meta-gradient (as the MAML paper), Reptile interpolates with its meta-step (sine 0.1, Omniglot 1) annealed to 0. ' +
        'Per-run settings are in results.csv.',
      '',
    );
    for (const benchmark of options.benchmarks) {
      const metric = metricOf(benchmark);
      const mine = rows.filter((r) => r.benchmark === benchmark);
      const curves = learningCurveSeries(results.filter((r) => r.cell.benchmark === benchmark), (r) => String(r.cell.labels.algorithm), metric);
      sections.push(
        `## ${benchmark === 'sine' ? `Sine-wave regression (MSE over the curve after ${mine[0]?.evalIters ?? 32} steps from ${mine[0]?.shots ?? 10} points)` : 'Omniglot 5-way 1-shot (MLP 784-64-64-5)'}`,
        '',
        statsTable(mine, ['algorithm'], ['algorithm'], metric),
        '',
        await chart(
          chartsDir,
          `${benchmark}-learning-curves`,
          [{ title: `${benchmark}: ${metric.label} on new tasks (mean over seeds)`, xLabel: 'meta-iteration', yLabel: metric.label, yLog: metric.key === 'mseAfter', series: curves }],
          `${benchmark}: learning curves`,
        ),
        '',
      );
    }
    return sections.join('\n');
  },
};
