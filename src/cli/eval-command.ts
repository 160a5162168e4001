/**
 * `reptile eval RUN_DIR`: evaluate a trained run's meta-parameters (model/ or, with
 * --checkpoint, the last checkpoint) with the original eval.py's protocol, possibly in another
 * setting (--shots, --eval-iters, --transductive ...), print the result and write it as JSON.
 */
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import { useBackend } from '../core/backend.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { RunDir, RUN_FILES, RunDirError } from '../io/run-dir.js';
import { loadModel } from '../io/model-files.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import { loadSafetensorsParams } from '../io/safetensors-files.js';
import { disposeOptimizerState } from '../nn/optimizers.js';
import { writeJsonAtomic } from '../io/files.js';
import { integer, real } from './parse.js';
import { UsageError } from './errors.js';
import { CHECKPOINT_FILE } from './train-job.js';
import type { TrainConfig } from './config.js';
import { BACKENDS } from '../core/backend.js';
import { crossDatasetConfig, textEvalOptions } from './text-eval.js';
import { startEvaluationThreads, type EvaluationThreads } from './evaluation-pool.js';

export interface EvalCommandDeps {
  readRunConfig(dir: string): Promise<TrainConfig>;
}

/** Why `params` does not fit the parameters `expected` (disposed here) of a model, or undefined. */
function parameterMismatch(expected: ParamSet, params: ParamSet): string | undefined {
  try {
    for (const [name, p] of Object.entries(expected)) {
      const got = params[name];
      if (!got) return `no parameter ${name}`;
      if (got.shape.join(',') !== p.shape.join(',')) return `${name} is [${got.shape}], expected [${p.shape}]`;
    }
    const extra = Object.keys(params).find((name) => !(name in expected));
    return extra === undefined ? undefined : `unexpected parameter ${extra}`;
  } finally {
    disposeParams(expected);
  }
}

const OVERRIDES = ['classes', 'shots', 'evalSamples', 'evalIters', 'evalBatch', 'learningRate', 'innerOptimizer', 'evalSplit', 'transductive', 'seed'] as const;

export function registerEvalCommand(program: Command, deps: EvalCommandDeps): void {
  const command = program
    .command('eval')
    .description("evaluate a run's meta-parameters on new tasks (the original eval.py protocol) and write the result as JSON")
    .argument('<run-dir>', 'a directory written by reptile train')
    .addOption(new Option('--classes <n>', "N-way (must match the model's output size; default: the run's)").argParser(integer(2)))
    .addOption(new Option('--shots <n>', "support examples per class (default: the run's)").argParser(integer(1)))
    .addOption(new Option('--eval-samples <n>', "tasks to evaluate on (default: the run's)").argParser(integer(1)))
    .addOption(new Option('--eval-iters <n>', "adaptation steps (default: the run's)").argParser(integer(0)))
    .addOption(new Option('--eval-batch <n>', "adaptation minibatch size, 0: the whole support set (default: the run's)").argParser(integer(0)))
    .addOption(new Option('--learning-rate <lr>', "adaptation learning rate (default: the run's)").argParser(real(0, Infinity, { minExclusive: true })))
    .addOption(new Option('--inner-optimizer <name>', "adaptation optimizer, a fresh one per task (default: the run's; Adam takes the run's betas, SGD its momentum)").choices(['sgd', 'adam']))
    .addOption(new Option('--eval-split <name>', "which classes' tasks: test, or validation (for tuning; default: the run's)").choices(['test', 'validation']))
    .addOption(new Option('--transductive', 'predict all queries in one batch (default: the run\'s setting)'))
    .addOption(new Option('--no-transductive', 'predict each query in a batch with the support set only'))
    .addOption(new Option('--seed <n>', "seed of the evaluation tasks (default: the run's)").argParser(integer(0, 2 ** 31 - 1)))
    .addOption(new Option('--checkpoint', 'evaluate the last checkpoint instead of model/'))
    .addOption(new Option('--init-from <file>', "evaluate these parameters (a safetensors state_dict with PyTorch names) with the run's settings").conflicts('checkpoint'))
    .addOption(new Option('--backend <name>', "TensorFlow.js backend (default: the run's)").choices(BACKENDS))
    .addOption(new Option('--workers <n>', 'threads adapting and scoring tasks (default 1: this thread; the numbers do not depend on n)').argParser(integer(1, 256)))
    .addOption(new Option('--json <file>', 'where to write the result (default: RUN_DIR/eval-<N>w<K>s[-transductive].json)'))
    .showSuggestionAfterError(false)
    .exitOverride();
  for (const option of textEvalOptions()) command.addOption(option);
  command.action(async (dir: string, flags: Record<string, unknown>) => {
      RunDir.open(dir, 'eval');
      const recorded = await deps.readRunConfig(dir);
      const config: TrainConfig = { ...recorded };
      for (const key of OVERRIDES) if (flags[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = flags[key];
      if (flags.backend) config.backend = flags.backend as TrainConfig['backend'];
      Object.assign(config, crossDatasetConfig(recorded, flags));
      if (config.benchmark === 'sine' && (flags.classes !== undefined || flags.transductive !== undefined)) throw new UsageError('--classes and --transductive do not apply to sine');
      let backendUsed: string;
      try {
        backendUsed = await useBackend(config.backend);
      } catch (error) {
        throw new UsageError(`--backend ${config.backend}: ${(error as Error).message}`);
      }
      const { benchmarkSetup } = await import('./benchmarks/index.js');
      const setup = await benchmarkSetup(config, (line) => console.log(line));
      let params: ParamSet;
      const algorithm: string = recorded.algorithm;
      const initFrom = flags.initFrom as string | undefined;
      let source: Record<string, string> = { source: flags.checkpoint ? CHECKPOINT_FILE : RUN_FILES.model };
      if (initFrom !== undefined) {
        const init = await loadSafetensorsParams(initFrom, setup.model).catch((error: Error) => {
          throw new UsageError(`--init-from ${error.message}`);
        });
        params = init.params;
        source = { source: initFrom, sha256: init.sha256 };
      } else if (flags.checkpoint) {
        // The run's algorithm's parameters: the last checkpoint while it trains, or its final
        // parameters (phase0.bin) once a baseline has started training after it.
        const read = (file: string) =>
          loadCheckpoint(join(dir, file)).catch((e: Error) => {
            throw new UsageError(`--checkpoint: ${e.message}`);
          });
        let checkpoint = await read(CHECKPOINT_FILE);
        if (Number(checkpoint.extra.phase ?? 0) > 0) {
          disposeParams(checkpoint.params);
          for (const state of Object.values(checkpoint.optimizerStates)) disposeOptimizerState(state);
          checkpoint = await read(`${RUN_FILES.checkpoint}/phase0.bin`);
        }
        params = checkpoint.params;
        for (const state of Object.values(checkpoint.optimizerStates)) disposeOptimizerState(state);
        // The checkpoint records no model: its parameters must fit the model of these settings
        // (another --classes would otherwise evaluate a 5-output model on 7-way tasks silently).
        const mismatch = parameterMismatch(setup.model.init(Rng.fromSeed(0)), params);
        if (mismatch) {
          disposeParams(params);
          throw new UsageError(`--classes ${config.classes}: the checkpoint in ${dir} does not fit a ${config.classes}-way model (${mismatch}); evaluate with the run's --classes ${recorded.classes}`);
        }
      } else {
        const loaded = await loadModel(join(dir, RUN_FILES.model)).catch((e: Error) => {
          throw new RunDirError(`eval ${dir}: ${e.message}`);
        });
        params = loaded.params;
        if (loaded.model.outputSize !== setup.model.outputSize) {
          disposeParams(params);
          throw new UsageError(`--classes ${config.classes}: the model in ${dir} has ${loaded.model.outputSize} outputs; evaluate with --classes ${loaded.model.outputSize}`);
        }
      }
      let threads: EvaluationThreads | undefined;
      try {
        const started = performance.now();
        threads = await startEvaluationThreads(config, setup, backendUsed, (flags.workers as number | undefined) ?? 1, (line) => console.log(line));
        const evaluation = await setup.evaluateFinal(params, threads.scorer);
        console.log(setup.describeFinal(initFrom !== undefined ? basename(initFrom) : algorithm, evaluation));
        const other = config.benchmark !== recorded.benchmark ? `${config.benchmark}-` : '';
        // The parameters of another file are named after it, so the run's own result is not overwritten.
        const from = initFrom !== undefined ? `-${basename(initFrom).replace(/\.safetensors$/, '')}` : '';
        const name = config.benchmark === 'sine' ? `eval-${config.shots}shots${from}.json` : `eval-${other}${config.classes}w${config.shots}s${config.transductive ? '-transductive' : ''}${from}.json`;
        const out = (flags.json as string | undefined) ?? join(dir, name);
        await writeJsonAtomic(out, {
          runDir: dir,
          ...source,
          benchmark: config.benchmark,
          algorithm,
          settings: Object.fromEntries([...OVERRIDES, 'data', 'queryShots', 'textSplit', 'split', 'splitSeed'].map((k) => [k, (config as unknown as Record<string, unknown>)[k]])),
          wallSeconds: (performance.now() - started) / 1000,
          threads: threads.threads,
          eval: evaluation,
        });
        console.log(`Written to ${out}`);
      } finally {
        disposeParams(params);
        await threads?.close();
      }
    });
}
