/** The benchmark a configuration names. */
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { sineBenchmark } from './sine.js';
import { omniglotBenchmark } from './omniglot.js';
import { imagesBenchmark } from './images.js';
import { textBenchmark } from './text.js';
import { loadUserModel, type UserModel } from '../model-file.js';

/** The benchmark, with the network of --model-file if given (read and checked first, before any data). */
export async function benchmarkSetup(config: TrainConfig, log: (line: string) => void = () => {}): Promise<BenchmarkSetup> {
  const user = await loadUserModel(config);
  const setup = await builtinBenchmark(config, log, user);
  return user ? { ...setup, sourceModel: user.files } : setup;
}

async function builtinBenchmark(config: TrainConfig, log: (line: string) => void, user: UserModel | undefined): Promise<BenchmarkSetup> {
  switch (config.benchmark) {
    case 'sine':
      if (config.model !== 'mlp') throw new UsageError(`--model ${config.model} does not apply to sine: allowed: mlp`);
      return sineBenchmark(config, user);
    case 'omniglot':
      return omniglotBenchmark(config, log, user);
    case 'images':
      return imagesBenchmark(config, log, user);
    case 'clinc150':
    case 'banking77':
      return textBenchmark(config, user);
  }
}
