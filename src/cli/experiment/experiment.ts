/**
 * What every experiment shares: its options (sizes, seeds, benchmarks, parallelism), the base
 * settings of a cell on each benchmark, and the run that turns cells into a report folder
 * (cells/, results.csv, results.json, report.md, charts/).
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/files.js';
import type { Benchmark } from '../config.js';
import { runCells, type Cell, type CellResult, type CellSettings, type CellTrainer } from './cells.js';
import { metricOf, resultRows, writeRows, type Row } from './rows.js';

/** The benchmarks experiments run on (Omniglot with the MLP, 5-way 1-shot by default). */
export const EXPERIMENT_BENCHMARKS = ['sine', 'omniglot'] as const;
export type ExperimentBenchmark = (typeof EXPERIMENT_BENCHMARKS)[number] & Benchmark;

export interface ExperimentOptions {
  out: string;
  jobs: number;
  seeds: number;
  benchmarks: ExperimentBenchmark[];
  metaIters: Record<ExperimentBenchmark, number>;
  evalSamples: Record<ExperimentBenchmark, number>;
  /** Omniglot's archives (passed to every cell, not part of its identity). */
  data?: string;
  backend?: string;
  /** The command line, for the report. */
  command: string;
  /** What trains each run (default: child processes here; `--broker`: reptile worker processes). */
  trainer?: CellTrainer;
}

export interface Experiment {
  name: string;
  title: string;
  /** One line for --help. */
  summary: string;
  defaults: { seeds: number; benchmarks: ExperimentBenchmark[] };
  cells(options: ExperimentOptions): Cell[];
  /** The report's body (sections with tables and charts) from the results. */
  report(results: CellResult[], rows: Row[], options: ExperimentOptions, chartsDir: string): Promise<string>;
}

/**
 * The settings every cell on `benchmark` starts from: the benchmark's defaults at the
 * experiment's size, periodic evaluation five times per run with `curves` (else only at the end), no baseline
 * phase, a checkpoint only at the end. Omniglot uses the MLP, 5-way 1-shot.
 */
export function baseSettings(benchmark: ExperimentBenchmark, options: ExperimentOptions, seed: number, { curves = false } = {}): CellSettings {
  const metaIters = options.metaIters[benchmark];
  const common: CellSettings = {
    seed,
    metaIters,
    evalSamples: options.evalSamples[benchmark],
    // Periodic evaluations cost as much as training at these sizes: only where a chart uses them.
    evalInterval: curves ? Math.max(1, Math.round(metaIters / 5)) : metaIters,
    checkpointInterval: 0,
    baseline: 'none',
  };
  if (benchmark === 'sine') return { ...common, evalIntervalSamples: curves ? 50 : 10 };
  return { ...common, model: 'mlp', classes: 5, shots: 1, evalIntervalSamples: curves ? 20 : 10 };
}

export function seedList(options: ExperimentOptions): number[] {
  return Array.from({ length: options.seeds }, (_, i) => i);
}

/** Runs the experiment's unfinished cells and writes its report folder; returns its results. */
export async function runExperiment(experiment: Experiment, options: ExperimentOptions, log: (line: string) => void): Promise<{ results: CellResult[]; reportFile: string }> {
  const start = performance.now();
  const loadBefore = loadavg()[0];
  const cells = experiment.cells(options);
  const extraArgs = (cell: Cell) => [...(options.data && cell.benchmark !== 'sine' ? ['--data', options.data] : []), ...(options.backend ? ['--backend', options.backend] : [])];
  log(`experiment ${experiment.name}: ${new Set(cells.map((c) => JSON.stringify([c.benchmark, c.settings]))).size} runs, ${options.jobs} at a time, in ${options.out}/cells (finished runs are kept and skipped)`);
  const results = await runCells(cells, {
    dir: join(options.out, 'cells'),
    jobs: options.jobs,
    log,
    extraArgs,
    ...(options.trainer ? { trainer: options.trainer } : {}),
    describe: (r) => {
      const metric = metricOf(r.cell.benchmark);
      const evaluation = r.summary!.eval as Record<string, number>;
      return `${metric.label} ${metric.format(evaluation[metric.key])}`;
    },
  });
  const rows = resultRows(experiment.name, results);
  await writeRows(options.out, rows);
  const body = await experiment.report(results, rows, options, join(options.out, 'charts'));
  const minutes = (performance.now() - start) / 60000;
  const runs = new Map(results.map((r) => [r.dir, r]));
  const reused = [...runs.values()].filter((r) => r.reused).length;
  const failed = results.filter((r) => r.status === 'failed');
  const header = [
    `# Experiment: ${experiment.title}`,
    '',
    `Command: \`${options.command}\``,
    '',
    `${runs.size} runs (${reused} finished earlier and reused), ${options.jobs} at a time on ${cpus().length} cores; ` +
      `this invocation took ${minutes.toFixed(1)} min (load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end). ` +
      `Seeds: ${options.seeds}. Meta-iterations: ${options.benchmarks.map((b) => `${b} ${options.metaIters[b]}`).join(', ')}; ` +
      `final evaluation tasks: ${options.benchmarks.map((b) => `${b} ${options.evalSamples[b]}`).join(', ')}.`,
    '',
    '`+-` is the half-width of the 95% confidence interval of the mean over runs (seeds), from Student\'s t; ' +
      'a single run shows its 95% CI over evaluation tasks instead. Every run\'s hyperparameters are in results.csv / results.json; ' +
      'its run directory (config.json, metrics.jsonl, summary.json, train.log) is under cells/.',
    ...(failed.length ? ['', `**${failed.length} runs failed**: ${failed.map((f) => `${f.id} (${f.message})`).join('; ')}`] : []),
    '',
  ];
  const reportFile = join(options.out, 'report.md');
  await writeFileAtomic(reportFile, [...header, body].join('\n') + '\n');
  return { results, reportFile };
}
