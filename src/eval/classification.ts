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
import { ParamStore } from '../core/param-store.js';
import type { Rng } from '../core/rng.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import { disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import type { EvalTask, ExampleLayoutSource, Examples } from '../tasks/task.js';
import { adaptationBatches, adaptationLoop, adaptOnBatches, type AdaptationOptions } from './adapt.js';
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

/** One evaluation task with its adaptation minibatches drawn: what a TaskScorer adapts to and scores. */
export interface ScoreJob extends EvalTask {
  batches: readonly (readonly number[])[];
}

/**
 * Adapts the meta-parameters to each task (a fresh optimizer each) and counts the queries it
 * then predicts right, in task order: this thread (localScorer) or a pool of threads
 * (src/parallel/worker-pool.ts), with the same numbers bitwise.
 */
export interface TaskScorer {
  scoreTasks(theta: ParamStore, jobs: readonly ScoreJob[], transductive: boolean): Promise<number[]>;
}

/** What adapting and scoring needs: the inner loop, the model whose forward pass predicts, the example layout. */
export interface ScoringSetup {
  loop: InnerLoop;
  model: Model;
  layout: ExampleLayoutSource;
}

/** The queries of one task predicted right after adaptation on its minibatches (one host read per task). */
export async function correctCount(setup: ScoringSetup, theta: ParamStore, job: ScoreJob, transductive: boolean): Promise<number> {
  const { loop, model, layout } = setup;
  const adapted = await adaptOnBatches(loop, theta, job.support, job.batches);
  const release = () => adapted !== theta && adapted.dispose();
  if (loop.predict) {
    // Predictions in the kernel too (the CNN's): each query batch is a forward pass of the whole
    // support set, several times the adaptation's cost through tfjs.
    const predicted = hostPredictions(loop.predict.bind(loop), adapted.host, job.support, job.query, transductive, model.outputSize);
    release();
    let correct = 0;
    predicted.forEach((c, q) => (correct += c === job.query.y[q] ? 1 : 0));
    return correct;
  }
  const support = toBatch(layout, job.support);
  const query = toBatch(layout, job.query);
  const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(predictQueries(model, adapted.device, support.x, query.x, transductive), tf.cast(query.y, 'int32')), 'float32')));
  release();
  disposeBatch(support);
  disposeBatch(query);
  const value = (await correct.data())[0];
  correct.dispose();
  return value;
}

/** Each task's correct count, one task after another in this thread (what every thread of a pool runs). */
export async function scoreInOrder(setup: ScoringSetup, theta: ParamStore, jobs: readonly ScoreJob[], transductive: boolean): Promise<number[]> {
  const counts: number[] = [];
  for (const job of jobs) counts.push(await correctCount(setup, theta, job, transductive));
  return counts;
}

/** The scorer that adapts and predicts in this thread, with the inner loop the factory chooses. */
export function localScorer(model: Model, loss: LossFn, layout: ExampleLayoutSource, options: AdaptationOptions): TaskScorer {
  const setup = { loop: adaptationLoop(model, loss, layout, options), model, layout };
  return { scoreTasks: (theta, jobs, transductive) => scoreInOrder(setup, theta, jobs, transductive) };
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
  const job = { ...task, batches: adaptationBatches(task.support, options, rng) };
  const theta = ParamStore.view(metaParams);
  const [correct] = await localScorer(model, loss, layout, options).scoreTasks(theta, [job], options.transductive);
  theta.dispose();
  return correct / task.query.count;
}

/**
 * Tasks drawn before they are scored: enough for every thread of a pool to have a share, few
 * enough that their examples stay small (each task is drawn, then its minibatches, in the order
 * of one task after another, so the random stream does not depend on this).
 */
const TASKS_PER_DRAW = 64;

export async function evaluateClassification(
  model: Model,
  loss: LossFn,
  layout: ExampleLayoutSource & { ways: number; shots: number },
  metaParams: ParamSet,
  sampleTask: (rng: Rng) => EvalTask,
  options: AdaptationOptions & { tasks: number; transductive: boolean; scorer?: TaskScorer },
  rng: Rng,
): Promise<ClassificationEval> {
  const scorer = options.scorer ?? localScorer(model, loss, layout, options);
  const theta = ParamStore.view(metaParams);
  const accuracies: number[] = [];
  try {
    for (let first = 0; first < options.tasks; first += TASKS_PER_DRAW) {
      const jobs: ScoreJob[] = [];
      for (let i = first; i < Math.min(options.tasks, first + TASKS_PER_DRAW); i++) {
        const task = sampleTask(rng);
        jobs.push({ ...task, batches: adaptationBatches(task.support, options, rng) });
      }
      const counts = await scorer.scoreTasks(theta, jobs, options.transductive);
      counts.forEach((correct, i) => accuracies.push(correct / jobs[i].query.count));
    }
  } finally {
    theta.dispose();
  }
  return { ways: layout.ways, shots: layout.shots, tasks: options.tasks, accuracy: mean(accuracies), ci95: ci95(accuracies), transductive: options.transductive, taskAccuracies: accuracies };
}
