/**
 * Few-shot classification evaluation, as the original eval.py: adapt on the support set (fresh
 * optimizer), then predict the query examples. Non-transductive by default: each query is
 * predicted in one batch together with the support examples, so batch normalisation sees one
 * query at a time and learns nothing from the other queries. Transductive: all queries in one
 * batch. Accuracy is the mean over tasks of the fraction of queries right, with its 95% CI.
 */
import { tf } from '../core/tf.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import type { EvalTask, ExampleLayoutSource } from '../tasks/task.js';
import { adaptToSupport, type AdaptationOptions } from './adapt.js';
import { ci95, mean } from './stats.js';

export interface ClassificationEval {
  ways: number;
  shots: number;
  tasks: number;
  /** Mean accuracy over tasks, a fraction in 0..1. */
  accuracy: number;
  ci95: number;
  transductive: boolean;
}

/**
 * Logits of the query set, [queries, classes]: all queries in one batch (transductive, or a model
 * without batch statistics), else each query in a batch with the support set, its row kept.
 */
export function queryLogits(model: Model, params: ParamSet, support: tf.Tensor, query: tf.Tensor, transductive: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    if (transductive || !model.batchStatistics || support.shape[0] === 0) return model.apply(params, query, { training: true });
    const rows: tf.Tensor[] = [];
    for (let q = 0; q < query.shape[0]; q++) {
      const logits = model.apply(params, tf.concat([support, tf.slice(query, q, 1)], 0), { training: true });
      rows.push(tf.slice(logits, logits.shape[0] - 1, 1));
    }
    return tf.concat(rows, 0) as tf.Tensor2D;
  });
}

/** Predicted classes of the query set (a device int32 vector the caller disposes). */
export function predictQueries(model: Model, params: ParamSet, support: tf.Tensor, query: tf.Tensor, transductive: boolean): tf.Tensor1D {
  return tf.tidy(() => tf.argMax(queryLogits(model, params, support, query, transductive), -1) as tf.Tensor1D);
}

/** Accuracy on one task after adaptation (one host read per task). */
export async function taskAccuracy(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource,
  metaParams: ParamSet,
  task: EvalTask,
  options: AdaptationOptions & { transductive: boolean },
  rng: Rng,
): Promise<number> {
  const adapted = adaptToSupport(model, loss, layout, metaParams, task.support, options, rng);
  const support = toBatch(layout, task.support);
  const query = toBatch(layout, task.query);
  const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(predictQueries(model, adapted, support.x, query.x, options.transductive), tf.cast(query.y, 'int32')), 'float32')));
  if (adapted !== metaParams) disposeParams(adapted);
  disposeBatch(support);
  disposeBatch(query);
  const value = (await correct.data())[0];
  correct.dispose();
  return value / task.query.count;
}

export async function evaluateClassification(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource & { ways: number; shots: number },
  metaParams: ParamSet,
  sampleTask: (rng: Rng) => EvalTask,
  options: AdaptationOptions & { tasks: number; transductive: boolean },
  rng: Rng,
): Promise<ClassificationEval> {
  const accuracies: number[] = [];
  for (let i = 0; i < options.tasks; i++) {
    accuracies.push(await taskAccuracy(model, loss, layout, metaParams, sampleTask(rng), options, rng));
  }
  return { ways: layout.ways, shots: layout.shots, tasks: options.tasks, accuracy: mean(accuracies), ci95: ci95(accuracies), transductive: options.transductive };
}
