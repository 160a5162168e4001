/**
 * The threads that run a run's evaluations with `--workers n` (n >= 2; `reptile train` and
 * `reptile eval`): a worker pool whose threads adapt and score the evaluation tasks with the
 * evaluation's optimizer and kernels. Each task's correct count is bitwise what this thread
 * computes, so the numbers do not depend on n. Classification only: sine's evaluation stays in
 * this thread (its fused MLP adapts a task in well under a millisecond).
 */
import type { TaskScorer } from '../eval/classification.js';
import { lossSpec } from '../nn/losses.js';
import { AdaptPool } from '../parallel/worker-pool.js';
import { evaluationOptions } from './library-options.js';
import type { BenchmarkSetup } from './benchmark.js';
import type { TrainConfig } from './config.js';

export interface EvaluationThreads {
  /** The pool, or undefined: evaluate in this thread. */
  scorer?: TaskScorer;
  /** Threads evaluating, this one included. */
  threads: number;
  close(): Promise<void>;
}

const inThisThread: EvaluationThreads = { threads: 1, close: async () => {} };

export async function startEvaluationThreads(config: TrainConfig, benchmark: BenchmarkSetup, backend: string, workers: number, log: (line: string) => void): Promise<EvaluationThreads> {
  const loss = lossSpec(benchmark.loss);
  const model = benchmark.model.spec;
  // Threads rebuild the model and loss from their specs; without one (none of the command line's
  // models lacks it) this thread evaluates, with the same numbers.
  if (workers < 2 || benchmark.trainTasks.kind !== 'classification' || !loss || !model) return inThisThread;
  const { optimizer, kernels } = evaluationOptions(config);
  const { inputShape, targetShape, kind } = benchmark.trainTasks;
  const pool = await AdaptPool.start(workers, {
    backend: backend as 'wasm' | 'cpu' | 'node',
    model,
    loss,
    optimizer: { name: optimizer.name, config: optimizer.config },
    layout: { inputShape, targetShape, kind },
    kernels,
  });
  log(`evaluating tasks in ${pool.size} threads (${pool.name})`);
  return { scorer: pool, threads: pool.size, close: () => pool.close() };
}
