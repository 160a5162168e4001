/** The benchmark a configuration names. */
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { sineBenchmark } from './sine.js';
import { omniglotBenchmark } from './omniglot.js';
import { imagesBenchmark } from './images.js';
import { textBenchmark } from './text.js';

export async function benchmarkSetup(config: TrainConfig, log: (line: string) => void = () => {}): Promise<BenchmarkSetup> {
  switch (config.benchmark) {
    case 'sine':
      if (config.model !== 'mlp') throw new UsageError(`--model ${config.model} does not apply to sine: allowed: mlp`);
      return sineBenchmark(config);
    case 'omniglot':
      return omniglotBenchmark(config, log);
    case 'images':
      return imagesBenchmark(config, log);
    case 'clinc150':
    case 'banking77':
      return textBenchmark(config);
  }
}
