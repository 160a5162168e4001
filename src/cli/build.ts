/** Turns a resolved configuration into the library objects it names. */
import type { ParamSet } from '../core/params.js';
import { Reptile, type TaskAdapter } from '../algorithms/reptile.js';
import { JointTraining } from '../algorithms/joint.js';
import { JointClassification } from '../algorithms/joint-classification.js';
import { FewShotClassification } from '../tasks/few-shot.js';
import { GlobalLabelBatches } from '../tasks/global-label-batches.js';
import { Fomaml } from '../algorithms/fomaml.js';
import { Maml } from '../algorithms/maml.js';
import { Scratch } from '../algorithms/scratch.js';
import type { MetaLearner, MetaLearnerSetup } from '../algorithms/meta-learner.js';
import { adam, sgd, type Optimizer } from '../nn/optimizers.js';
import { checkParamScales, parseParamScales } from '../nn/param-scales.js';
import type { Model } from '../nn/model.js';
import { Rng } from '../core/rng.js';
import { tf } from '../core/tf.js';
import type { TrainConfig } from './config.js';
import { innerOptimizerOf } from '../demo/run-settings.js';
import { UsageError } from './errors.js';

/** The inner optimizer (training and evaluation use the same kind and rate). */
export function innerOptimizer(config: TrainConfig): Optimizer {
  return innerOptimizerOf(config);
}

/** The meta-training inner optimizer: the evaluation's, with --inner-rate-scale's layer-wise rates. */
export function trainingInnerOptimizer(config: TrainConfig): Optimizer {
  return config.innerRateScale ? innerOptimizerOf(config, parseParamScales(config.innerRateScale)) : innerOptimizer(config);
}

/** Throws a usage error when --inner-rate-scale or --meta-step-scale names no parameter of `model`. */
export function checkLayerwiseScales(config: TrainConfig, model: Model): void {
  const given = ([['--inner-rate-scale', config.innerRateScale], ['--meta-step-scale', config.metaStepScale]] as const).filter(([, text]) => text);
  if (given.length === 0) return;
  // The names only: a throwaway draw, its tensors disposed at once.
  const paramNames = tf.tidy(() => Object.keys(model.init(Rng.fromSeed(0))));
  for (const [flag, text] of given) {
    try {
      checkParamScales(parseParamScales(text!), paramNames);
    } catch (error) {
      throw new UsageError(`${flag} ${text}: ${(error as Error).message}`);
    }
  }
}

function metaOptimizer(config: TrainConfig): Optimizer | undefined {
  switch (config.metaOptimizer) {
    case 'interpolate':
      return undefined;
    case 'sgd':
      return sgd({ learningRate: config.metaStep });
    case 'adam':
      // beta1 = 0 as the paper's inner Adam; the rate is the annealed meta-step.
      return adam({ learningRate: config.metaStep, beta1: 0 });
  }
}

function metaGradientOptions(config: TrainConfig) {
  return {
    innerIters: config.innerIters,
    innerBatch: config.innerBatch,
    metaBatch: config.metaBatch,
    innerOptimizer: trainingInnerOptimizer(config),
    tailShots: config.fomlTail,
    metaOptimizer: metaOptimizer(config),
  };
}

/**
 * `adapter`: the worker pool that adapts a meta-batch's tasks in parallel (Reptile only). The
 * layer-wise scales' names are checked before (checkLayerwiseScales, before the run directory is written).
 */
export function buildLearner(algorithm: TrainConfig['algorithm'], config: TrainConfig, setup: MetaLearnerSetup, initialParams: ParamSet, adapter?: TaskAdapter): MetaLearner {
  const stepScale = config.metaStepScale ? parseParamScales(config.metaStepScale) : undefined;
  switch (algorithm) {
    case 'reptile':
      return new Reptile(setup, initialParams, {
        innerIters: config.innerIters,
        innerBatch: config.innerBatch,
        metaBatch: config.metaBatch,
        innerOptimizer: trainingInnerOptimizer(config),
        metaStepScale: stepScale,
        persistInnerState: !config.freshInnerState,
        metaOptimizer: metaOptimizer(config),
        adapter,
        // --workers n >= 1: the pool's semantics, also when the fused kernel runs them in this thread.
        commonStartState: config.workers > 0 && config.metaBatch > 1,
      });
    case 'fomaml':
      return new Fomaml(setup, initialParams, { ...metaGradientOptions(config), persistInnerState: !config.freshInnerState });
    case 'maml':
      return new Maml(setup, initialParams, metaGradientOptions(config));
    case 'scratch':
      return new Scratch(setup, initialParams, { batchSize: config.innerBatch });
    case 'joint':
      // Classification: the paper's joint training over all training classes' global labels.
      if (setup.layout instanceof FewShotClassification) {
        return new JointClassification(setup, initialParams, {
          stepsPerIteration: config.metaBatch * config.innerIters,
          batchSize: config.innerBatch,
          optimizer: innerOptimizer(config),
          batches: new GlobalLabelBatches(setup.layout.classes, setup.layout.inputShape),
        });
      }
      return new JointTraining(setup, initialParams, {
        stepsPerIteration: config.metaBatch * config.innerIters,
        batchSize: config.innerBatch,
        optimizer: innerOptimizer(config),
      });
  }
}
