/** Few-shot classification on a user's image folders (`<split>/<class>/<image>`, e.g. Mini-ImageNet) for `reptile train images`. */
import { imageFolderClassSet } from '../../data/image-folder.js';
import { loadImageFolder } from '../../io/image-folder-files.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { fewShotImageBenchmark } from './few-shot-images.js';
import type { UserModel } from '../model-file.js';
import { dataError } from './omniglot.js';
import { datasetCacheDir } from '../../io/dataset-cache.js';

export async function imagesBenchmark(config: TrainConfig, log: (line: string) => void, user?: UserModel): Promise<BenchmarkSetup> {
  let data;
  try {
    data = await loadImageFolder(config.data!, { size: config.imageSize, channels: config.channels, cacheDir: datasetCacheDir() });
  } catch (error) {
    dataError(config, error);
  }
  if (data.cache.status !== 'hit') log(`images: decoded ${Object.values(data.counts).reduce((a, b) => a + b, 0)} images in ${data.seconds.toFixed(1)} s`);
  const has = (split: string) => (data.splits[split]?.length ?? 0) > 0;
  for (const split of ['train', 'test']) {
    if (!has(split)) throw new UsageError(`--data ${config.data}: no '${split}' folder of classes (expected ${config.data}/${split}/<class>/<image>); found: ${Object.keys(data.splits).join(', ') || 'none'}`);
  }
  const validation = ['val', 'validation'].find(has);
  return fewShotImageBenchmark(config, 'images', {
    train: imageFolderClassSet(data, 'train'),
    test: imageFolderClassSet(data, 'test'),
    ...(validation ? { validation: imageFolderClassSet(data, validation) } : {}),
  }, user);
}
