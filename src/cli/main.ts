#!/usr/bin/env node
/**
 * The `reptile` command. Usage errors are one line on stderr and exit code 2; a run that
 * diverges says where and what to change, exit code 1.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './errors.js';
import { resolveTrainConfig, trainOptions } from './train-options.js';
import { checkResumeArguments } from './resume-settings.js';
import { BENCHMARKS, type TrainConfig } from './config.js';
import { packageVersion } from './metadata.js';
import { checkCpuLevelSetting } from './cpu-level.js';
import { RUN_FILES, RunDirError } from '../io/run-dir.js';
import { DivergenceError } from '../train/meta-train.js';
import { registerDataCommand } from './data-command.js';
import { registerEvalCommand } from './eval-command.js';
import { dashboardOptions, registerServeCommands, withDashboard } from './serve-command.js';
import { registerAdaptCommand } from './adapt-command.js';
import { registerExperimentCommand } from './experiment-command.js';
import { registerTuneCommand } from './tune-command.js';
import { registerCompareCommand } from './compare-command.js';
import { registerExportCommand } from './export-command.js';
import { testHooksFromEnv, trainHooks } from './test-hooks.js';
import { coordinatorFlags, coordinatorOptions } from './broker-options.js';
import { registerWorkerCommand } from './worker-command.js';

async function readConfigFile(path: string | undefined): Promise<Record<string, unknown>> {
  if (!path) return {};
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--config ${path}: expected a JSON object of settings`);
  return value as Record<string, unknown>;
}

/**
 * Commander's one-line messages for an unknown flag or command, or a missing argument, name what
 * is wrong but not what is allowed: append that, on the same line.
 */
function outputErrorWithHint(command: string, commands: () => string[] = () => []) {
  return (str: string, write: (s: string) => void) => {
    const line = str.trimEnd();
    if (line.startsWith('error: unknown option')) write(`${line}; run '${command} --help' for the allowed flags\n`);
    else if (line.startsWith('error: unknown command')) write(`${line}; allowed: ${commands().join(', ')}\n`);
    else if (line.startsWith("error: missing required argument 'benchmark'")) write(`${line}; allowed: ${BENCHMARKS.join(', ')}\n`);
    else write(str);
  };
}

/** The settings of the run in `dir` as its config.json records them. */
async function readRecordedConfig(dir: string): Promise<TrainConfig> {
  const settings = await readConfigFile(join(dir, 'config.json')).catch(() => {
    throw new UsageError(`--resume ${dir}: no run there (no readable config.json)`);
  });
  const config = resolveTrainConfig(String(settings.benchmark), {}, settings);
  const initFromSha256 = typeof settings.initFromSha256 === 'string' ? { initFromSha256: settings.initFromSha256 } : {};
  return { ...config, ...initFromSha256, out: dir, force: false };
}

/** The settings to continue or evaluate a run with: its --model-file is the run's own copy (the file given may have moved or changed since). */
function withRunModelCopy(config: TrainConfig, dir: string): TrainConfig {
  return config.modelFile ? { ...config, modelFile: join(dir, RUN_FILES.sourceModel, 'model.json') } : config;
}

/** The settings of the run in `dir`, for --resume, `reptile eval` and `reptile adapt`. */
async function readRunConfig(dir: string): Promise<TrainConfig> {
  return withRunModelCopy(await readRecordedConfig(dir), dir);
}

function program(): Command {
  const cli: Command = new Command('reptile')
    .description('Meta-learning on TensorFlow.js: Reptile, FOMAML and MAML, with baselines, on few-shot tasks')
    .version(packageVersion())
    .showSuggestionAfterError(false)
    .configureOutput({ outputError: outputErrorWithHint('reptile', () => cli.commands.map((c) => c.name())) })
    .exitOverride()
    .hook('preAction', checkCpuLevelSetting);
  const train = cli
    .command('train')
    .description('meta-train on a benchmark and write a run directory (config.json, metrics.jsonl, summary.json, model/, charts/)')
    .argument('[benchmark]', `the task distribution: ${BENCHMARKS.join(', ')}`)
    .showSuggestionAfterError(false)
    .configureOutput({ outputError: outputErrorWithHint('reptile train') })
    .exitOverride()
    .action(async (benchmark: string | undefined, flags: Record<string, unknown>) => {
      const resume = flags.resume as string | undefined;
      const hookSpec = testHooksFromEnv();
      const broker = coordinatorFlags(flags);
      let config;
      if (resume) {
        const recorded = await readRecordedConfig(resume);
        const settings = Object.keys(flags).filter((k) => k !== 'resume' && k !== 'force' && !k.startsWith('dashboard') && !k.startsWith('broker') && k !== 'maxStaleness' && flags[k] !== undefined);
        if (benchmark || settings.length > 0) {
          const given = resolveTrainConfig(benchmark ?? recorded.benchmark, flags, await readConfigFile(flags.config as string | undefined));
          checkResumeArguments(resume, recorded, given, flags.out !== undefined);
        }
        config = withRunModelCopy(recorded, resume);
      } else {
        if (!benchmark) throw new UsageError(`missing benchmark: allowed: ${BENCHMARKS.join(', ')} (or --resume RUN_DIR)`);
        config = resolveTrainConfig(benchmark, flags, await readConfigFile(flags.config as string | undefined));
      }
      const { runTrainJob, phasesOf, selectBackend } = await import('./train-job.js');
      await selectBackend(config);
      const hooks = trainHooks(hookSpec, { ...config, phases: phasesOf(config) }, (line) => console.log(line));
      const { benchmarkSetup } = await import('./benchmarks/index.js');
      const setup = await benchmarkSetup(config, (line) => console.log(line));
      const summary = await withDashboard(flags, config.out, () => runTrainJob(config, setup, { resume: Boolean(resume), log: (line) => console.log(line), hooks, broker, evaluationWorkers: flags.workers === undefined ? 1 : config.workers }));
      const ratio = setup.compare?.(summary);
      if (ratio) console.log(ratio);
      console.log(`${summary.metaItersPerSecond.toFixed(1)} meta-iterations/s on the ${summary.backend} backend. Files: ${summary.runDir}/ (summary.json, metrics.jsonl, model/, charts/)`);
    });
  for (const option of trainOptions()) train.addOption(option);
  train.addOption(new Option('--resume <dir>', 'continue the run in <dir> from its last checkpoint; other arguments must equal its recorded settings'));
  for (const option of dashboardOptions()) train.addOption(option);
  for (const option of coordinatorOptions()) train.addOption(option);
  registerDataCommand(cli);
  registerEvalCommand(cli, { readRunConfig });
  registerServeCommands(cli);
  registerAdaptCommand(cli, { readRunConfig });
  registerExperimentCommand(cli);
  registerTuneCommand(cli);
  registerCompareCommand(cli);
  registerExportCommand(cli);
  registerWorkerCommand(cli);
  return cli;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help/version text).
      return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    if (error instanceof UsageError || error instanceof RunDirError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    if (error instanceof DivergenceError) {
      console.error(`error: ${error.message}. Files written before it are kept.`);
      return 1;
    }
    console.error(`error: ${(error as Error).message ?? error}`);
    if (process.env.REPTILE_DEBUG) console.error((error as Error).stack);
    return 1;
  }
}

process.exitCode = await main(process.argv);
