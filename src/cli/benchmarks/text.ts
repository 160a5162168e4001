/**
 * Few-shot intent classification on text (CLINC150, BANKING77) for `reptile train clinc150` and
 * `reptile eval RUN_DIR --benchmark banking77`: the data set's intents split into disjoint
 * meta-train / validation / test intents, texts as hashed n-gram bags, the embedding-bag model,
 * and the generic few-shot benchmark (episodes with --query-shots queries per class).
 */
import { embeddingBag } from '../../nn/embedding-bag.js';
import type { Model } from '../../nn/model.js';
import { tokenizer, type TokenizerSpec } from '../../text/tokenizer.js';
import { textExampleClasses, type TextDataset } from '../../data/text.js';
import { describeTextSplits, splitTextClasses } from '../../data/text-splits.js';
import { loadBanking77, loadClinc150 } from '../../io/text-files.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { fewShotBenchmark } from './few-shot.js';
import { dataError } from './omniglot.js';
import { fitUserModel, type UserModel } from '../model-file.js';

export function tokenizerSpec(config: TrainConfig): TokenizerSpec {
  return { kind: 'hashed-ngrams', hash: 'fnv1a32', buckets: config.buckets!, maxTokens: config.maxTokens!, wordNgrams: config.wordNgrams!, charNgrams: config.charNgrams! };
}

/** The network `config.model` names (or `user`'s, of --model-file, on the hashed n-gram bags) for N-way text tasks. */
export function textModel(config: TrainConfig, user?: UserModel): Model {
  if (user) return fitUserModel(user, `${config.benchmark} ${config.classes}-way`, [config.buckets!], config.classes!);
  if (config.model !== 'embedding-bag' && config.model !== 'weighted-embedding-bag') throw new UsageError(`--model ${config.model} does not apply to text: allowed: embedding-bag, weighted-embedding-bag`);
  const weighting = config.model === 'weighted-embedding-bag' ? { weighting: 'learned' as const } : {};
  try {
    return embeddingBag({ kind: 'embedding-bag', tokenizer: tokenizerSpec(config), dim: config.embeddingDim!, hidden: config.hidden, classes: config.classes!, activation: config.activation, init: config.init, ...weighting });
  } catch (error) {
    throw new UsageError(`--word-ngrams ${config.wordNgrams} --char-ngrams ${config.charNgrams}: ${(error as Error).message}`);
  }
}

async function loadText(config: TrainConfig): Promise<{ data: TextDataset; domains?: Record<string, string[]> }> {
  try {
    return config.benchmark === 'clinc150' ? await loadClinc150(config.data!) : { data: await loadBanking77(config.data!) };
  } catch (error) {
    dataError(config, error);
  }
}

export async function textBenchmark(config: TrainConfig, user?: UserModel): Promise<BenchmarkSetup> {
  const model = textModel(config, user);
  const { data, domains } = await loadText(config);
  const scheme = config.textSplit!;
  if (scheme === 'domains' && !domains) throw new UsageError(`--text-split domains needs CLINC150's domains.json beside data_full.json in --data ${config.data}; allowed for ${config.benchmark}: intents`);
  let splits;
  try {
    splits = splitTextClasses(data, { scheme, seed: config.splitSeed!, ...(domains ? { domains } : {}) });
  } catch (error) {
    dataError(config, error);
  }
  const tok = tokenizer(tokenizerSpec(config));
  return fewShotBenchmark(
    config,
    config.benchmark,
    model,
    model.inputShape,
    { train: textExampleClasses(splits.train, tok), test: textExampleClasses(splits.test, tok), validation: textExampleClasses(splits.validation, tok) },
    { queryShots: config.queryShots!, recorded: { classSplit: describeTextSplits(splits) }, finalValidation: false },
  );
}
