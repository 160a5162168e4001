/**
 * Task distributions. A task is a small supervised problem; the distribution samples tasks
 * from a seeded generator. Examples live on the host as flat typed arrays and become tensors
 * one minibatch at a time.
 */
import type { Rng } from '../core/rng.js';

/** `count` examples: x is [count, ...inputShape] flattened; y is [count, ...targetShape] flattened. */
export interface Examples {
  count: number;
  x: Float32Array;
  /** Regression targets (float) or class labels (int). */
  y: Float32Array | Int32Array;
}

/** What a learner adapts on and what it is scored on. */
export interface EvalTask {
  support: Examples;
  query: Examples;
  /** Anything a chart needs to draw the task (e.g. a sine's amplitude and phase). */
  describe?: Record<string, number>;
}

export interface TaskDistribution {
  readonly name: string;
  readonly kind: 'regression' | 'classification';
  /** Shape of one input example, without the batch dimension. */
  readonly inputShape: number[];
  /** Model outputs per example (1 for scalar regression, N for N-way classification). */
  readonly outputSize: number;
  /** Shape of one target (regression: [outputSize]; classification: [] for an integer label). */
  readonly targetShape: number[];
  /** A meta-training task: the examples an inner loop draws its minibatches from. */
  sampleTrainTask(rng: Rng): Examples;
  /** An evaluation task: adapt on `support`, score on `query`. */
  sampleEvalTask(rng: Rng): EvalTask;
}

/** The part of a distribution that says how its examples become tensors. */
export type ExampleLayoutSource = Pick<TaskDistribution, 'inputShape' | 'targetShape' | 'kind'>;

/**
 * Minibatch index lists as the original code draws them: shuffle the task's examples, take
 * consecutive minibatches of `batchSize`, reshuffle when the examples run out.
 */
export function minibatchIndices(count: number, batchSize: number, batches: number, rng: Rng): number[][] {
  if (batchSize < 1 || count < 1) throw new RangeError(`minibatches need batchSize >= 1 and examples >= 1 (got ${batchSize}, ${count})`);
  const out: number[][] = [];
  let order: number[] = [];
  for (let b = 0; b < batches; b++) {
    const batch: number[] = [];
    while (batch.length < batchSize) {
      if (order.length === 0) order = rng.permutation(count);
      batch.push(order.shift()!);
    }
    out.push(batch);
  }
  return out;
}
