/** Checks of `reptile train` settings that depend on --algorithm (FOMAML's tail, MAML's inner optimizer). */
import { UsageError } from './errors.js';
import type { TrainConfig } from './config.js';

/** The algorithm --foml selects (the original's flag), unless --algorithm names another. */
export function fomlAlgorithm(explicit: string | undefined): 'fomaml' {
  if (explicit !== undefined && explicit !== 'fomaml') throw new UsageError(`--foml is short for --algorithm fomaml; it conflicts with --algorithm ${explicit}`);
  return 'fomaml';
}

export function checkAlgorithmSettings(config: TrainConfig): void {
  const { algorithm, fomlTail, trainShots, innerIters } = config;
  if (fomlTail > 0) {
    if (algorithm !== 'fomaml' && algorithm !== 'maml') throw new UsageError(`--foml-tail applies to --algorithm fomaml and maml, not ${algorithm}`);
    // The adaptation minibatches need at least one example of each class outside the tail.
    const most = innerIters > 1 ? trainShots - 1 : trainShots;
    if (fomlTail > most) throw new UsageError(`--foml-tail ${fomlTail}: at most ${most} with --train-shots ${trainShots} and --inner-iters ${innerIters}`);
  }
  if (config.innerRateScale && !['reptile', 'fomaml', 'maml'].includes(algorithm)) {
    throw new UsageError(`--inner-rate-scale applies to the meta-training inner loop of --algorithm reptile, fomaml and maml, not ${algorithm}`);
  }
  if (config.metaStepScale && (algorithm !== 'reptile' || config.metaOptimizer !== 'interpolate')) {
    throw new UsageError(`--meta-step-scale applies to --algorithm reptile with --meta-optimizer interpolate, not --algorithm ${algorithm} --meta-optimizer ${config.metaOptimizer}`);
  }
  if (algorithm === 'maml' && config.innerOptimizer !== 'sgd') {
    throw new UsageError(`--algorithm maml differentiates through plain SGD steps: use --sgd (or --inner-optimizer sgd), not --inner-optimizer ${config.innerOptimizer}`);
  }
}
