/** The benchmark a configuration names. */
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../train-options.js';
import { sineBenchmark } from './sine.js';

export async function benchmarkSetup(config: TrainConfig): Promise<BenchmarkSetup> {
  switch (config.benchmark) {
    case 'sine':
      return sineBenchmark(config);
  }
}
