/** Omniglot (the Reptile and MAML papers' benchmark) for `reptile train omniglot`. */
import { splitOmniglot } from '../../data/splits.js';
import { DatasetError } from '../../data/errors.js';
import { loadOmniglot } from '../../io/omniglot-files.js';
import { datasetCacheDir } from '../../io/dataset-cache.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { fewShotImageBenchmark } from './few-shot-images.js';
import type { UserModel } from '../model-file.js';


/** Turns a dataset problem into a one-line usage error naming --data. */
export function dataError(config: TrainConfig, error: unknown, hint = ''): never {
  if (error instanceof DatasetError) throw new UsageError(`--data ${config.data}: ${error.message}${hint}`);
  throw error;
}

/** Loads the archives in `config.data` and splits them as configured. */
export async function loadOmniglotSplits(config: TrainConfig, log: (line: string) => void = () => {}) {
  if (config.model === 'conv-miniimagenet') throw new UsageError("--model conv-miniimagenet takes 84x84 RGB images, not Omniglot's 28x28: use --model conv or mlp");
  let data;
  try {
    data = await loadOmniglot(config.data!, { cacheDir: datasetCacheDir() });
  } catch (error) {
    dataError(config, error, error instanceof DatasetError && /no such directory/.test(error.message) ? "; fetch the archives with 'reptile data omniglot --out DIR'" : '');
  }
  if (data.cache.status !== 'hit') log(`omniglot: decoded ${data.characters.length} characters in ${data.seconds.toFixed(1)} s (cache: ${data.cache.status}${data.cache.file ? ` ${data.cache.file}` : ''})`);
  try {
    // Too few characters (an incomplete copy of the archives) is a problem with --data too.
    return splitOmniglot(data, { scheme: config.split, seed: config.splitSeed });
  } catch (error) {
    dataError(config, error);
  }
}

export async function omniglotBenchmark(config: TrainConfig, log: (line: string) => void, user?: UserModel): Promise<BenchmarkSetup> {
  const splits = await loadOmniglotSplits(config, log);
  return fewShotImageBenchmark(config, 'omniglot', {
    train: splits.train,
    test: splits.test,
    ...(splits.validation && splits.validation.classes.length > 0 ? { validation: splits.validation } : {}),
  }, user);
}
