/**
 * The minibatches a gradient-based meta-learner (FOMAML, MAML) draws from one training task:
 * k - 1 adaptation minibatches and a final one whose loss gives the meta-gradient (the Reptile
 * paper's section 5 definition, where minibatch k plays the query).
 *
 * Without a tail the k minibatches are drawn exactly as Reptile draws its k (same generator
 * calls), so with the same seed the algorithms see the same examples. With a tail (the original's
 * --foml-tail) the final minibatch is `tail` examples of each class, kept apart from the examples
 * the adaptation minibatches are drawn from (regression tasks: `tail` examples).
 */
import type { Rng } from '../core/rng.js';
import { minibatchIndices, type Examples, type ExampleLayoutSource } from '../tasks/task.js';

export interface TaskBatchIndices {
  /** k - 1 adaptation minibatches (indices into the task's examples). */
  adaptation: number[][];
  /** The final minibatch, whose loss after adaptation is the meta-loss. */
  final: number[];
}

/** Examples per class taken as the tail, in the original's order (the first of each label in a shuffled order). */
function splitTail(layout: ExampleLayoutSource, task: Examples, tail: number, rng: Rng): { head: number[]; tail: number[] } {
  const order = rng.permutation(task.count);
  if (layout.kind !== 'classification') {
    if (tail > task.count) throw new RangeError(`tail of ${tail} examples, but the task has only ${task.count}`);
    return { tail: order.slice(0, tail), head: order.slice(tail) };
  }
  const taken = new Map<number, number>();
  const tailIdx: number[] = [];
  const head: number[] = [];
  for (const i of order) {
    const label = task.y[i];
    const n = taken.get(label) ?? 0;
    if (n < tail) {
      taken.set(label, n + 1);
      tailIdx.push(i);
    } else {
      head.push(i);
    }
  }
  for (const [label, n] of taken) {
    if (n < tail) throw new RangeError(`tail of ${tail} examples per class, but class ${label} has only ${n}`);
  }
  return { head, tail: tailIdx };
}

export function taskBatchIndices(layout: ExampleLayoutSource, task: Examples, innerBatch: number, innerIters: number, tail: number, rng: Rng): TaskBatchIndices {
  if (tail <= 0) {
    const all = minibatchIndices(task.count, innerBatch, innerIters, rng);
    return { adaptation: all.slice(0, -1), final: all[all.length - 1] };
  }
  const split = splitTail(layout, task, tail, rng);
  if (innerIters > 1 && split.head.length === 0) throw new RangeError(`a tail of ${tail} per class leaves no examples to adapt on`);
  const adaptation = innerIters > 1 ? minibatchIndices(split.head.length, innerBatch, innerIters - 1, rng).map((b) => b.map((i) => split.head[i])) : [];
  return { adaptation, final: split.tail };
}
