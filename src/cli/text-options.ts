/**
 * The text benchmarks' flags and defaults for `reptile train` (few-shot intent classification:
 * clinc150, banking77). Flags that only text uses are defined here; for the shared ones,
 * TEXT_DEFAULTS gives the text value, TEXT_NOT_APPLICABLE the ones that do not apply, and any
 * other flag takes Omniglot's default (withTextDefaults).
 */
import { TEXT_SPLITS, type Benchmark, type FlagSpec, type Key, type TextBenchmark, type TrainConfig } from './config.js';
import { integer, integerList } from './parse.js';
import { DEFAULT_TOKENIZER } from '../text/tokenizer.js';

/** The text default of each shared flag that differs from Omniglot's (the same for both data sets, except --data). */
const TEXT_DEFAULTS: Partial<Record<Key, TrainConfig[Key]>> = {
  metaIters: 2000,
  trainShots: 10,
  shots: 5,
  innerIters: 5,
  innerBatch: 10,
  evalIters: 20,
  // Adaptation on the whole support set: minibatches of 10 from 25 examples left scratch training
  // 25 points behind at 5-shot with 32-wide embeddings (docs/text.md).
  evalBatch: 0,
  evalSamples: 1000,
  evalInterval: 500,
  checkpointInterval: 500,
  model: 'embedding-bag',
  hidden: [64],
  evalIntervalSamples: 50,
  splitSeed: 0,
};
const TEXT_NOT_APPLICABLE = new Set<Key>(['split', 'imageSize', 'channels']);
const DATA: Record<TextBenchmark, string> = { clinc150: 'data/clinc150', banking77: 'data/banking77' };

/** A shared flag as the table of train-options.ts declares it: its defaults for the benchmarks other than text. */
export type SharedFlagSpec = Omit<FlagSpec, 'defaults'> & { readonly defaults: Readonly<Record<Exclude<Benchmark, TextBenchmark>, TrainConfig[Key]>> };

/** The shared flag with its text defaults added (a new entry; `spec` is not changed). */
export function withTextDefaults(spec: SharedFlagSpec): FlagSpec {
  const text = (b: TextBenchmark): TrainConfig[Key] => {
    if (spec.key === 'data') return DATA[b];
    if (TEXT_NOT_APPLICABLE.has(spec.key)) return undefined;
    return spec.key in TEXT_DEFAULTS ? TEXT_DEFAULTS[spec.key] : spec.defaults.omniglot;
  };
  return { ...spec, defaults: { ...spec.defaults, clinc150: text('clinc150'), banking77: text('banking77') } };
}

/** The flags that only the text benchmarks have (their defaults for other benchmarks: undefined, "does not apply"). */
const textOnly = <T extends TrainConfig[Key]>(value: T): FlagSpec['defaults'] => ({ sine: undefined, omniglot: undefined, images: undefined, clinc150: value, banking77: value });
export const TEXT_FLAGS: readonly FlagSpec[] = [
  { key: 'queryShots', flags: '--query-shots <n>', description: 'query examples per class in an evaluation task', parse: integer(1), defaults: textOnly(5) },
  { key: 'textSplit', flags: '--text-split <scheme>', description: 'class split: intents (60/20/20%, shuffled by --split-seed) or domains (CLINC150: whole domains)', choices: TEXT_SPLITS, defaults: textOnly('intents') },
  { key: 'buckets', flags: '--buckets <n>', description: 'hashed vocabulary size (rows of the embedding table)', parse: integer(2, 2 ** 24), defaults: textOnly(DEFAULT_TOKENIZER.buckets) },
  { key: 'maxTokens', flags: '--max-tokens <n>', description: 'at most this many hashed features per text', parse: integer(1), defaults: textOnly(DEFAULT_TOKENIZER.maxTokens) },
  { key: 'wordNgrams', flags: '--word-ngrams <n>', description: 'word n-grams for n = 1..this (0: none)', parse: integer(0, 5), defaults: textOnly(DEFAULT_TOKENIZER.wordNgrams) },
  { key: 'charNgrams', flags: '--char-ngrams <sizes>', description: 'character n-gram lengths, comma-separated', parse: integerList(1), defaults: textOnly(DEFAULT_TOKENIZER.charNgrams) },
  { key: 'embeddingDim', flags: '--embedding-dim <n>', description: 'embedding width of the embedding-bag model', parse: integer(1), defaults: textOnly(64) },
];

/** --data's default per text benchmark. */
export function textDataDefault(benchmark: TextBenchmark): string {
  return DATA[benchmark];
}
