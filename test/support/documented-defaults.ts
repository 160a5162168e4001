/**
 * The defaults and published settings as the documentation states them, written out here by hand
 * so that the tests compare the code against an independent source (never against the tables
 * the code reads: src/cli/train-options.ts, text-options.ts, presets.ts). A value here that the
 * code does not have is a bug in the code or in the documentation, not in this file.
 *
 * Sources:
 * - sine: README.md's table "flag | sine default | meaning" (the paper's sine demo);
 * - omniglot: README.md ("the Omniglot defaults [are] its 5-way 1-shot setting") and
 *   openai/supervised-reptile's README commands "used for the paper" (latest version of that
 *   README), with its args.py defaults for the flags those commands leave out (--classes 5,
 *   --shots 5, --eval-samples 10000) and its models.py optimizer (Adam with beta1 = 0);
 * - clinc150 / banking77: README.md's text section and docs/text.md's setup.
 */
import { availableParallelism } from 'node:os';

/** A setting's config.json key, its flag, and its documented value. */
export interface Documented {
  key: string;
  flag: string;
  value: unknown;
}

const entries = (table: [string, string, unknown][]): Documented[] => table.map(([key, flag, value]) => ({ key, flag, value }));

/** README.md's sine table, every row with a value (`--workers`: "cores"). */
export const SINE_DEFAULTS: Documented[] = entries([
  ['metaIters', '--meta-iters', 30000],
  ['metaStep', '--meta-step', 0.1],
  ['metaStepFinal', '--meta-step-final', 0],
  ['metaBatch', '--meta-batch', 1],
  ['metaOptimizer', '--meta-optimizer', 'interpolate'],
  ['innerIters', '--inner-iters', 5],
  ['innerBatch', '--inner-batch', 10],
  ['learningRate', '--learning-rate', 0.02],
  ['innerOptimizer', '--inner-optimizer', 'sgd'],
  ['adamBeta1', '--adam-beta1', 0],
  ['adamBeta2', '--adam-beta2', 0.999],
  ['freshInnerState', '--fresh-inner-state', false],
  ['workers', '--workers', availableParallelism()],
  ['innerLoop', '--inner-loop', 'fused'],
  ['trainShots', '--train-shots', 50],
  ['shots', '--shots', 10],
  ['evalIters', '--eval-iters', 32],
  ['evalBatch', '--eval-batch', 10],
  ['evalSamples', '--eval-samples', 1000],
  ['evalInterval', '--eval-interval', 1000],
  ['evalIntervalSamples', '--eval-interval-samples', 100],
  ['algorithm', '--algorithm', 'reptile'],
  ['baseline', '--baseline', 'joint'],
  ['fomlTail', '--foml-tail', 0],
  ['init', '--init', 'pytorch'],
  ['hidden', '--hidden', [64, 64]],
  ['activation', '--activation', 'tanh'],
  ['seed', '--seed', 0],
  ['backend', '--backend', 'auto'],
  ['checkpointInterval', '--checkpoint-interval', 1000],
  ['trainTasks', '--train-tasks', 0],
  ['evalSplit', '--eval-split', 'test'],
]);

/**
 * openai/supervised-reptile's README, "Reproducing training runs": the Omniglot commands used for
 * the paper, verbatim (its checkpoint flag aside). `--transductive` is evaluation only: the
 * transductive variants are the same commands with it.
 */
export const PAPER_COMMANDS: Record<string, string> = {
  'omniglot-5w1s': '--shots 1 --inner-batch 10 --inner-iters 5 --meta-step 1 --meta-batch 5 --meta-iters 100000 --eval-batch 5 --eval-iters 50 --learning-rate 0.001 --meta-step-final 0 --train-shots 10',
  'omniglot-5w5s': '--train-shots 10 --inner-batch 10 --inner-iters 5 --learning-rate 0.001 --meta-step 1 --meta-step-final 0 --meta-batch 5 --meta-iters 100000 --eval-batch 5 --eval-iters 50',
  'omniglot-20w1s': '--shots 1 --classes 20 --inner-batch 20 --inner-iters 10 --meta-step 1 --meta-batch 5 --meta-iters 200000 --eval-batch 10 --eval-iters 50 --learning-rate 0.0005 --meta-step-final 0 --train-shots 10',
  'omniglot-20w5s': '--classes 20 --inner-batch 20 --inner-iters 10 --meta-step 1 --meta-batch 5 --meta-iters 200000 --eval-batch 10 --eval-iters 50 --learning-rate 0.0005 --meta-step-final 0 --train-shots 10',
};

/** supervised-reptile's args.py defaults for what the commands above leave out, and its optimizer. */
const PAPER_IMPLICIT: Documented[] = entries([
  ['classes', '--classes', 5],
  ['shots', '--shots', 5],
  ['evalSamples', '--eval-samples', 10000],
  ['transductive', '--transductive', false],
  ['model', '--model', 'conv'],
  ['innerOptimizer', '--inner-optimizer', 'adam'],
  ['adamBeta1', '--adam-beta1', 0],
]);

const camel = (flag: string) => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** One of PAPER_COMMANDS as settings, over the implicit ones. */
function paperSettings(command: string): Documented[] {
  const settings = new Map(PAPER_IMPLICIT.map((d) => [d.key, d]));
  const words = command.split(/\s+/);
  for (let i = 0; i < words.length; i += 2) settings.set(camel(words[i]), { key: camel(words[i]), flag: words[i], value: Number(words[i + 1]) });
  return [...settings.values()];
}

/** Every published Omniglot preset (and its transductive variant) with the paper's values. */
export const PAPER_PRESETS: Record<string, Documented[]> = Object.fromEntries(
  Object.entries(PAPER_COMMANDS).flatMap(([name, command]) => {
    const settings = paperSettings(command);
    const transductive = settings.map((d) => (d.key === 'transductive' ? { ...d, value: true } : d));
    return [[name, settings], [`${name}-transductive`, transductive]];
  }),
);

/** README.md: "the Omniglot defaults [are] its 5-way 1-shot setting", on the Reptile split. */
export const OMNIGLOT_DEFAULTS: Documented[] = [
  ...PAPER_PRESETS['omniglot-5w1s'],
  ...entries([
    ['split', '--split', 'reptile'],
    ['init', '--init', 'tensorflow'],
    ['metaOptimizer', '--meta-optimizer', 'interpolate'],
    ['algorithm', '--algorithm', 'reptile'],
  ]),
];

/** The text benchmarks (clinc150, banking77): README.md's text section and docs/text.md's setup. */
export const TEXT_DEFAULTS: Documented[] = entries([
  ['classes', '--classes', 5],
  ['trainShots', '--train-shots', 10],
  ['queryShots', '--query-shots', 5],
  ['evalIters', '--eval-iters', 20],
  ['evalBatch', '--eval-batch', 0],
  ['innerOptimizer', '--inner-optimizer', 'adam'],
  ['adamBeta1', '--adam-beta1', 0],
  ['learningRate', '--learning-rate', 0.001],
  ['textSplit', '--text-split', 'intents'],
  ['splitSeed', '--split-seed', 0],
  ['model', '--model', 'embedding-bag'],
  ['buckets', '--buckets', 8192],
  ['maxTokens', '--max-tokens', 256],
  ['wordNgrams', '--word-ngrams', 2],
  ['charNgrams', '--char-ngrams', [3]],
  ['embeddingDim', '--embedding-dim', 64],
  ['hidden', '--hidden', [64]],
  ['activation', '--activation', 'relu'],
  ['init', '--init', 'tensorflow'],
]);

/** The documented defaults of each benchmark that --help lists. */
export const DOCUMENTED_DEFAULTS: Record<string, Documented[]> = {
  sine: SINE_DEFAULTS,
  omniglot: OMNIGLOT_DEFAULTS,
  clinc150: TEXT_DEFAULTS,
  banking77: TEXT_DEFAULTS,
};
