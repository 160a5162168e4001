/**
 * `reptile experiment tasks|baselines|sensitivity`: the article's experiments as one command each,
 * writing a report folder (results.csv, results.json, report.md, charts/, cells/). Runs go in
 * parallel (--jobs) and a re-run skips the runs already finished.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKENDS } from '../core/backend.js';
import { integer } from './parse.js';
import { UsageError } from './errors.js';
import { resolveTrainConfig } from './train-options.js';
import { EXPERIMENT_BENCHMARKS, runExperiment, type Experiment, type ExperimentBenchmark, type ExperimentOptions } from './experiment/experiment.js';
import { tasksExperiment } from './experiment/tasks.js';
import { baselinesExperiment } from './experiment/baselines.js';
import { sensitivityExperiment } from './experiment/sensitivity.js';
import { brokerFlagOptions, refuseStrayBrokerFlags } from './broker-options.js';
import type { BrokerFlags } from '../distributed/broker-connection.js';

export const EXPERIMENTS: Record<string, Experiment> = {
  tasks: tasksExperiment,
  baselines: baselinesExperiment,
  sensitivity: sensitivityExperiment,
};

/**
 * Default sizes: each experiment finishes within about 30 minutes on 2 cores (docs/experiments);
 * --paper gives the papers' budgets (sine: the demo's 30000 meta-iterations and 1000 evaluation
 * tasks; Omniglot: 100000 and 10000, as openai/supervised-reptile).
 */
export const DEFAULT_SIZES: Record<string, { metaIters: Record<ExperimentBenchmark, number>; evalSamples: Record<ExperimentBenchmark, number> }> = {
  tasks: { metaIters: { sine: 3000, omniglot: 400 }, evalSamples: { sine: 300, omniglot: 200 } },
  baselines: { metaIters: { sine: 2000, omniglot: 300 }, evalSamples: { sine: 300, omniglot: 300 } },
  sensitivity: { metaIters: { sine: 2000, omniglot: 300 }, evalSamples: { sine: 200, omniglot: 200 } },
};
export const PAPER_SIZES = { metaIters: { sine: 30000, omniglot: 100000 }, evalSamples: { sine: 1000, omniglot: 10000 } };

function benchmarkList(value: string): ExperimentBenchmark[] {
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((n) => !(EXPERIMENT_BENCHMARKS as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) throw new InvalidArgumentError(`'${bad}' is not allowed: a comma-separated list of ${EXPERIMENT_BENCHMARKS.join(', ')}`);
  return [...new Set(names)] as ExperimentBenchmark[];
}

interface ExperimentFlags extends Partial<BrokerFlags> {
  out?: string;
  jobs?: number;
  seeds?: number;
  benchmarks?: ExperimentBenchmark[];
  paper?: boolean;
  sineMetaIters?: number;
  omniglotMetaIters?: number;
  sineEvalSamples?: number;
  omniglotEvalSamples?: number;
  data: string;
  backend?: string;
}

export function experimentOptions(experiment: Experiment, flags: ExperimentFlags, command: string): ExperimentOptions {
  const sizes = flags.paper ? PAPER_SIZES : DEFAULT_SIZES[experiment.name];
  const options: ExperimentOptions = {
    out: flags.out ?? `experiments/${experiment.name}`,
    jobs: flags.jobs ?? availableParallelism(),
    seeds: flags.seeds ?? experiment.defaults.seeds,
    benchmarks: flags.benchmarks ?? experiment.defaults.benchmarks,
    metaIters: { sine: flags.sineMetaIters ?? sizes.metaIters.sine, omniglot: flags.omniglotMetaIters ?? sizes.metaIters.omniglot },
    evalSamples: { sine: flags.sineEvalSamples ?? sizes.evalSamples.sine, omniglot: flags.omniglotEvalSamples ?? sizes.evalSamples.omniglot },
    ...(flags.benchmarks?.includes('omniglot') ?? experiment.defaults.benchmarks.includes('omniglot') ? { data: flags.data } : {}),
    ...(flags.backend ? { backend: flags.backend } : {}),
    command,
  };
  if (options.data !== undefined && !existsSync(options.data)) {
    throw new UsageError(`--data ${options.data}: no such directory (omniglot needs the archives; fetch them with 'reptile data omniglot --out DIR', or leave omniglot out with --benchmarks sine)`);
  }
  // Every cell's settings must be valid for 'reptile train' before any run starts.
  for (const cell of experiment.cells(options)) resolveTrainConfig(cell.benchmark, {}, cell.settings);
  return options;
}

export function registerExperimentCommand(program: Command): void {
  const command = program
    .command('experiment')
    .description('run one of the article\'s experiments and write a report folder (results.csv, results.json, report.md, charts/)')
    .argument('<name>', Object.values(EXPERIMENTS).map((e) => `${e.name}: ${e.summary}`).join('; '))
    .addOption(new Option('--out <dir>', 'report folder (default: experiments/<name>); runs already finished there are skipped'))
    .addOption(new Option('--jobs <n>', `runs at a time, one process each (default: the number of cores, ${availableParallelism()} here)`).argParser(integer(1)))
    .addOption(new Option('--seeds <n>', 'seeds per point (default: tasks 2, baselines 3, sensitivity 3)').argParser(integer(1)))
    .addOption(new Option('--benchmarks <list>', 'comma-separated: sine, omniglot (default: tasks and baselines both, sensitivity sine)').argParser(benchmarkList))
    .addOption(new Option('--paper', "the papers' sizes: sine 30000 meta-iterations and 1000 evaluation tasks, Omniglot 100000 and 10000 (days on 2 cores); the flags below override it"))
    .addOption(new Option('--sine-meta-iters <n>', `meta-iterations per sine run (default: tasks ${DEFAULT_SIZES.tasks.metaIters.sine}, baselines ${DEFAULT_SIZES.baselines.metaIters.sine}, sensitivity ${DEFAULT_SIZES.sensitivity.metaIters.sine})`).argParser(integer(1)))
    .addOption(new Option('--omniglot-meta-iters <n>', `meta-iterations per Omniglot run (default: tasks ${DEFAULT_SIZES.tasks.metaIters.omniglot}, baselines ${DEFAULT_SIZES.baselines.metaIters.omniglot}, sensitivity ${DEFAULT_SIZES.sensitivity.metaIters.omniglot})`).argParser(integer(1)))
    .addOption(new Option('--sine-eval-samples <n>', `new tasks in each sine run's final evaluation (default: tasks ${DEFAULT_SIZES.tasks.evalSamples.sine}, baselines ${DEFAULT_SIZES.baselines.evalSamples.sine}, sensitivity ${DEFAULT_SIZES.sensitivity.evalSamples.sine})`).argParser(integer(1)))
    .addOption(new Option('--omniglot-eval-samples <n>', `new tasks in each Omniglot run's final evaluation (default: tasks ${DEFAULT_SIZES.tasks.evalSamples.omniglot}, baselines ${DEFAULT_SIZES.baselines.evalSamples.omniglot}, sensitivity ${DEFAULT_SIZES.sensitivity.evalSamples.omniglot})`).argParser(integer(1)))
    .addOption(new Option('--data <dir>', 'the Omniglot archives').default('data/omniglot'))
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend of every run (default: auto)').choices(BACKENDS))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (name: string, flags: ExperimentFlags) => {
      const experiment = EXPERIMENTS[name];
      if (!experiment) throw new UsageError(`unknown experiment '${name}': allowed: ${Object.keys(EXPERIMENTS).join(', ')}`);
      const options = experimentOptions(experiment, flags, `reptile ${process.argv.slice(2).join(' ')}`);
      refuseStrayBrokerFlags(flags);
      const log = (line: string) => console.log(line);
      const broker = flags.broker ? await (await import('./broker-cells.js')).brokerTrainer(flags as BrokerFlags, log) : undefined;
      let ran;
      try {
        // With workers elsewhere, every run may be in flight at once (default).
        ran = await runExperiment(experiment, { ...options, ...(broker ? { trainer: broker.trainer, jobs: flags.jobs ?? experiment.cells(options).length } : {}) }, log);
      } finally {
        await broker?.close();
      }
      const { results, reportFile } = ran;
      const failed = results.filter((r) => r.status === 'failed').length;
      console.log(`report: ${reportFile} (results.csv, results.json, charts/ beside it)`);
      if (failed) throw new Error(`${failed} of ${results.length} runs failed; see train.log in their cells/ folders (a re-run retries them)`);
    });
  for (const option of brokerFlagOptions('the runs')) command.addOption(option);
}
