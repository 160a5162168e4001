/**
 * `reptile adapt RUN_DIR --examples ...`: adapt a run's meta-trained model to the user's own
 * classes from a few labelled examples (with the run's evaluation-time inner loop: optimizer,
 * learning rate, --eval-iters steps on minibatches of --eval-batch), then classify new inputs,
 * printing `label<TAB>probability<TAB>input` per line (or JSON). Which kind of run decides the
 * rest: a text run takes a CSV or JSON file of text,label rows and classifies lines of text (of
 * --input or stdin); an image run takes `<class>/<image>` folders and classifies images
 * (adapt-images.ts).
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BACKENDS, useBackend } from '../core/backend.js';
import { disposeParams } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { DatasetError } from '../data/errors.js';
import { RunDir, RUN_FILES, RunDirError } from '../io/run-dir.js';
import { loadModel } from '../io/model-files.js';
import { loadLabelledExamples } from '../io/text-files.js';
import { adaptIntentClassifier } from '../text/intent-classifier.js';
import { innerOptimizerOf } from '../demo/run-settings.js';
import { integer, real } from './parse.js';
import { UsageError } from './errors.js';
import { isTextBenchmark, type TrainConfig } from './config.js';
import { readInputLines, writePredictions } from './adapt-io.js';
import { adaptImageRun, IMAGE_BENCHMARKS, type AdaptFlags } from './adapt-images.js';

export interface AdaptCommandDeps {
  readRunConfig(dir: string): Promise<TrainConfig>;
}

/** The run's exported model, on the backend of --backend or the run's. */
async function loadRunModel(dir: string, config: TrainConfig, flags: AdaptFlagValues) {
  const backend = flags.backend ?? config.backend;
  try {
    await useBackend(backend);
  } catch (error) {
    throw new UsageError(`--backend ${backend}: ${(error as Error).message}`);
  }
  return loadModel(join(dir, RUN_FILES.model)).catch((e: Error) => {
    throw new RunDirError(`adapt ${dir}: ${e.message}`);
  });
}

type AdaptFlagValues = AdaptFlags & { backend?: TrainConfig['backend'] };

async function adaptTextRun(dir: string, config: TrainConfig, flags: AdaptFlagValues): Promise<void> {
  const examplesFile = flags.examples;
  let examples;
  try {
    examples = await loadLabelledExamples(examplesFile);
  } catch (error) {
    if (error instanceof DatasetError) throw new UsageError(`--examples ${examplesFile}: ${error.message.startsWith(examplesFile) ? error.message.slice(examplesFile.length + 2) : error.message}`);
    throw error;
  }
  const labels = new Set(examples.map((e) => e.label));
  if (labels.size < 2) throw new UsageError(`--examples ${examplesFile}: the examples name ${labels.size} intent; at least 2 are needed (a label column with two or more values)`);
  const loaded = await loadRunModel(dir, config, flags);
  const spec = loaded.model.spec;
  if (spec.kind !== 'embedding-bag') {
    disposeParams(loaded.params);
    throw new UsageError(`adapt ${dir}: the run's model is ${spec.kind}, trained on ${config.benchmark}; a text run's model is an embedding bag`);
  }
  const lines = await readInputLines(flags.input);
  const options = {
    evalIters: flags.evalIters ?? config.evalIters,
    evalBatch: flags.evalBatch ?? config.evalBatch,
    optimizer: innerOptimizerOf({ ...config, learningRate: flags.learningRate ?? config.learningRate }),
  };
  const classifier = await adaptIntentClassifier(spec, loaded.params, examples, options, Rng.fromSeed(flags.seed ?? config.seed));
  disposeParams(loaded.params);
  try {
    writePredictions(await classifier.classify(lines), lines, 'text', flags.json === true);
  } finally {
    classifier.dispose();
  }
}

export function registerAdaptCommand(program: Command, deps: AdaptCommandDeps): void {
  program
    .command('adapt')
    .description("adapt a run's model to your own classes from a few labelled examples (texts or images), then classify new ones")
    .argument('<run-dir>', 'a directory written by reptile train: a text run (clinc150, banking77) or an image run (omniglot, images)')
    .addOption(new Option('--examples <path>', 'text run: CSV (header text,label) or JSON [{"text","label"}] / [[text, label]]; image run: DIR/<class>/*.png|jpg').makeOptionMandatory())
    .addOption(new Option('--input <path>', 'text run: a file of texts, one per line; image run: an image or a folder of them (default: stdin, one per line)'))
    .addOption(new Option('--json', 'print a JSON array of {label, probability, text|path} instead of tab-separated lines'))
    .addOption(new Option('--eval-iters <n>', "adaptation steps (default: the run's --eval-iters)").argParser(integer(0)))
    .addOption(new Option('--learning-rate <lr>', "adaptation learning rate (default: the run's --learning-rate; docs/text.md tunes it on validation intents)").argParser(real(0, Infinity, { minExclusive: true })))
    .addOption(new Option('--eval-batch <n>', "adaptation minibatch size, 0: all the examples (default: the run's --eval-batch)").argParser(integer(0)))
    .addOption(new Option('--seed <n>', "seed of the minibatch order (default: the run's)").argParser(integer(0, 2 ** 31 - 1)))
    .addOption(new Option('--backend <name>', "TensorFlow.js backend (default: the run's)").choices(BACKENDS))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (dir: string, flags: AdaptFlagValues) => {
      RunDir.open(dir, 'adapt');
      const config = await deps.readRunConfig(dir);
      if (isTextBenchmark(config.benchmark)) return adaptTextRun(dir, config, flags);
      if (IMAGE_BENCHMARKS.includes(config.benchmark)) return adaptImageRun(dir, config, flags, () => loadRunModel(dir, config, flags));
      throw new UsageError(`adapt ${dir}: a ${config.benchmark} run; reptile adapt takes an image run (${IMAGE_BENCHMARKS.join(', ')}) or a text run (clinc150, banking77)`);
    });
}
