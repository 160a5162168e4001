/** What a benchmark gives the training job: its tasks, model, evaluations and charts. */
import type { ParamSet } from '../core/params.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { TaskDistribution } from '../tasks/task.js';
import type { MetaLearner } from '../algorithms/meta-learner.js';
import type { RunDir } from '../io/run-dir.js';
import type { TaskScorer } from '../eval/classification.js';
import type { LayersModelFiles } from '../io/layers-model-files.js';

export interface BenchmarkSetup {
  readonly name: string;
  readonly model: Model;
  readonly loss: LossFn;
  /** Meta-training tasks. */
  readonly trainTasks: TaskDistribution;
  /** Settings the benchmark derived (e.g. a class split), recorded in config.json. */
  readonly recorded?: Record<string, unknown>;
  /** --model-file's files, copied into the new run directory (RUN_FILES.sourceModel) for --resume and `reptile eval`. */
  readonly sourceModel?: LayersModelFiles;
  /**
   * Periodic evaluation: the metrics of one metrics.jsonl line (besides iteration, time,
   * algorithm). `scorer`: the threads that adapt and score classification tasks (default: this thread).
   */
  evaluatePeriodic(params: ParamSet, scorer?: TaskScorer): Promise<Record<string, number>>;
  /** The final evaluation: summary.json's `eval`. */
  evaluateFinal(params: ParamSet, scorer?: TaskScorer): Promise<Record<string, unknown>>;
  /** A few words for the progress line from a periodic evaluation. */
  describePeriodic(metrics: Record<string, number>): string;
  /** One line for the terminal from a final evaluation. */
  describeFinal(algorithm: string, evaluation: Record<string, unknown>): string;
  /** Charts from the metrics and the trained learners. */
  writeCharts(runDir: RunDir, metrics: Record<string, unknown>[], learners: MetaLearner[]): Promise<void>;
  /** A line comparing the algorithm with its baseline, when there is one. */
  compare?(summary: { eval: Record<string, unknown>; algorithm: string; baseline?: { algorithm: string; eval: Record<string, unknown> } }): string | undefined;
}
