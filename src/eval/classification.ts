/**
 * Few-shot classification evaluation, as the original eval.py: adapt on the support set (fresh
 * optimizer), then predict the query examples. Non-transductive by default: each query is
 * predicted in one batch together with the support examples, so batch normalisation sees one
 * query at a time and learns nothing from the other queries. Transductive: all queries in one
 * batch. Accuracy is the mean over tasks of the fraction of queries right, with its 95% CI.
 */
import { tf } from '../core/tf.js';
import type { HostParams, ParamSet } from '../core/params.js';
import type { InnerLoop } from '../core/inner-loop.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import type { EvalTask, ExampleLayoutSource, Examples } from '../tasks/task.js';
import { adaptationLoop, adaptToSupport, type AdaptationOptions } from './adapt.js';
import { ci95, mean } from './stats.js';

export interface ClassificationEval {
  ways: number;
  shots: number;
  tasks: number;
  /** Mean accuracy over tasks, a fraction in 0..1. */
  accuracy: number;
  ci95: number;
  transductive: boolean;
  /** Each task's accuracy, in task order (for paired comparisons on the same tasks: `reptile compare`). */
  taskAccuracies: number[];
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

/** Index of the first largest of `count` values from `at` (tf.argMax's choice on ties). */
function argMax(values: Float32Array, at: number, count: number): number {
  let best = 0;
  for (let j = 1; j < count; j++) if (values[at + j] > values[at + best]) best = j;
  return best;
}

/**
 * The query set's predicted classes by an inner loop's own forward pass on the host (a fused
 * kernel's), with queryLogits' protocol: all queries in one batch (transductive), else each in a
 * batch with the support set.
 */
function hostPredictions(predict: NonNullable<InnerLoop['predict']>, params: HostParams, support: Examples, query: Examples, transductive: boolean, classes: number): Int32Array {
  const size = query.x.length / query.count;
  const out = new Int32Array(query.count);
  if (transductive || support.count === 0) {
    const logits = predict(params, query.x, query.count);
    for (let q = 0; q < query.count; q++) out[q] = argMax(logits, q * classes, classes);
    return out;
  }
  const batch = new Float32Array((support.count + 1) * size);
  batch.set(support.x);
  for (let q = 0; q < query.count; q++) {
    batch.set(query.x.subarray(q * size, (q + 1) * size), support.count * size);
    out[q] = argMax(predict(params, batch, support.count + 1), support.count * classes, classes);
  }
  return out;
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
  const adapted = await adaptToSupport(model, loss, layout, metaParams, task.support, options, rng);
  const loop = adaptationLoop(model, loss, layout, options);
  if (loop.predict) {
    // Predictions in the kernel too (the CNN's): each query batch is a forward pass of the whole
    // support set, several times the adaptation's cost through tfjs.
    const predicted = hostPredictions(loop.predict.bind(loop), adapted.host, task.support, task.query, options.transductive, model.outputSize);
    adapted.dispose();
    let correct = 0;
    predicted.forEach((c, q) => (correct += c === task.query.y[q] ? 1 : 0));
    return correct / task.query.count;
  }
  const support = toBatch(layout, task.support);
  const query = toBatch(layout, task.query);
  const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(predictQueries(model, adapted.device, support.x, query.x, options.transductive), tf.cast(query.y, 'int32')), 'float32')));
  adapted.dispose();
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
  return { ways: layout.ways, shots: layout.shots, tasks: options.tasks, accuracy: mean(accuracies), ci95: ci95(accuracies), transductive: options.transductive, taskAccuracies: accuracies };
}
