/**
 * `reptile adapt RUN_DIR --examples FILE`: adapt a text run's meta-trained model to the user's own
 * intents from a small CSV or JSON file of text,label rows (with the run's evaluation-time inner
 * loop: optimizer, learning rate, --eval-iters steps on minibatches of --eval-batch), then classify
 * each line of --input FILE or of stdin, printing `label<TAB>probability<TAB>text` per line.
 */
import { readFile } from 'node:fs/promises';
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
import type { TrainConfig } from './config.js';

export interface AdaptCommandDeps {
  readRunConfig(dir: string): Promise<TrainConfig>;
}

async function readLines(file: string | undefined): Promise<string[]> {
  let text: string;
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--input ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  }
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}

export function registerAdaptCommand(program: Command, deps: AdaptCommandDeps): void {
  program
    .command('adapt')
    .description("adapt a text run's model to your own intents from a few labelled examples, then classify lines of text (stdin or --input)")
    .argument('<run-dir>', 'a directory written by reptile train clinc150 (or banking77)')
    .addOption(new Option('--examples <file>', 'your labelled examples: CSV with a header text,label, or JSON [{"text": ..., "label": ...}] / [[text, label]]').makeOptionMandatory())
    .addOption(new Option('--input <file>', 'texts to classify, one per line (default: stdin); blank lines are skipped'))
    .addOption(new Option('--eval-iters <n>', "adaptation steps (default: the run's --eval-iters)").argParser(integer(0)))
    .addOption(new Option('--learning-rate <lr>', "adaptation learning rate (default: the run's --learning-rate; docs/text.md tunes it on validation intents)").argParser(real(0, Infinity, { minExclusive: true })))
    .addOption(new Option('--eval-batch <n>', "adaptation minibatch size, 0: all the examples (default: the run's --eval-batch)").argParser(integer(0)))
    .addOption(new Option('--seed <n>', "seed of the minibatch order (default: the run's)").argParser(integer(0, 2 ** 31 - 1)))
    .addOption(new Option('--backend <name>', "TensorFlow.js backend (default: the run's)").choices(BACKENDS))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (dir: string, flags: Record<string, unknown>) => {
      RunDir.open(dir, 'adapt');
      const config = await deps.readRunConfig(dir);
      const examplesFile = flags.examples as string;
      let examples;
      try {
        examples = await loadLabelledExamples(examplesFile);
      } catch (error) {
        if (error instanceof DatasetError) throw new UsageError(`--examples ${examplesFile}: ${error.message.startsWith(examplesFile) ? error.message.slice(examplesFile.length + 2) : error.message}`);
        throw error;
      }
      const labels = new Set(examples.map((e) => e.label));
      if (labels.size < 2) throw new UsageError(`--examples ${examplesFile}: the examples name ${labels.size} intent; at least 2 are needed (a label column with two or more values)`);
      const backend = (flags.backend as TrainConfig['backend'] | undefined) ?? config.backend;
      try {
        await useBackend(backend);
      } catch (error) {
        throw new UsageError(`--backend ${backend}: ${(error as Error).message}`);
      }
      const loaded = await loadModel(join(dir, RUN_FILES.model)).catch((e: Error) => {
        throw new RunDirError(`adapt ${dir}: ${e.message}`);
      });
      const spec = loaded.model.spec;
      if (spec.kind !== 'embedding-bag') {
        disposeParams(loaded.params);
        throw new UsageError(`adapt ${dir}: the run's model is ${spec.kind}, trained on ${config.benchmark}; reptile adapt takes a text run (clinc150, banking77)`);
      }
      const lines = await readLines(flags.input as string | undefined);
      const options = {
        evalIters: (flags.evalIters as number | undefined) ?? config.evalIters,
        evalBatch: (flags.evalBatch as number | undefined) ?? config.evalBatch,
        optimizer: innerOptimizerOf({ ...config, learningRate: (flags.learningRate as number | undefined) ?? config.learningRate }),
      };
      const classifier = await adaptIntentClassifier(spec, loaded.params, examples, options, Rng.fromSeed((flags.seed as number | undefined) ?? config.seed));
      disposeParams(loaded.params);
      try {
        const predictions = await classifier.classify(lines);
        process.stdout.write(predictions.map((p, i) => `${p.label}\t${p.probability.toFixed(3)}\t${lines[i]}\n`).join(''));
      } finally {
        classifier.dispose();
      }
    });
}
