/**
 * The flat configuration as the library's option objects, one function per group of flags, the
 * way openai/supervised-reptile's args.py turns its flags into keyword arguments (model_kwargs,
 * train_kwargs, evaluate_kwargs): metaLearnerOptions for the algorithm's class, scheduleOptions
 * for metaTrain, evaluationOptions for the adaptation at evaluation. docs/cli.md lists the flags
 * of each group.
 */
import type { ReptileOptions } from '../algorithms/reptile.js';
import type { FomamlOptions } from '../algorithms/fomaml.js';
import type { MetaGradientOptions } from '../algorithms/meta-gradient-learner.js';
import type { KernelChoice } from '../algorithms/select-inner-loop.js';
import type { InnerStateMode } from '../core/inner-loop.js';
import type { ScratchOptions } from '../algorithms/scratch.js';
import type { JointTrainingOptions } from '../algorithms/joint.js';
import type { MetaTrainOptions } from '../train/meta-train.js';
import type { AdaptationOptions } from '../eval/adapt.js';
import { adam, sgd, type Optimizer } from '../nn/optimizers.js';
import { parseParamScales } from '../nn/param-scales.js';
import { adaptationOf, innerOptimizerOf } from '../demo/run-settings.js';
import type { Algorithm, TrainConfig } from './config.js';

/** The options of each algorithm's class, as far as the configuration gives them. */
export interface MetaLearnerOptions {
  /** The worker pool that adapts a meta-batch's tasks (`innerLoop`) is the training job's to add. */
  reptile: ReptileOptions;
  fomaml: FomamlOptions;
  maml: MetaGradientOptions;
  scratch: ScratchOptions;
  /** Classification adds the global-label minibatches of its task layout (JointClassificationOptions). */
  joint: JointTrainingOptions;
}

/**
 * The fused kernels a run may use (execution): none with --inner-loop tfjs (runs from before that
 * flag have no such setting: fused); REPTILE_NATIVE=0 leaves out the native addon (its wasm build runs).
 */
export function kernelChoice(config: Pick<TrainConfig, 'innerLoop'>): KernelChoice {
  if (config.innerLoop === 'tfjs') return 'none';
  return process.env.REPTILE_NATIVE === '0' ? ['fused-mlp', 'fused-cnn-wasm'] : 'all';
}

/**
 * Reptile's inner state across tasks: fresh with --fresh-inner-state; with --workers n >= 1 the
 * pool's ('common': the numbers do not depend on n, also when one thread runs the tasks); else
 * chained from task to task as the original code.
 */
export function innerStateMode(config: TrainConfig): InnerStateMode {
  if (config.freshInnerState) return 'fresh';
  return config.workers > 0 && config.metaBatch > 1 ? 'common' : 'chain';
}

/** The meta-training inner optimizer: --inner-optimizer and its settings, with --inner-rate-scale's layer-wise rates. */
export function trainingInnerOptimizer(config: TrainConfig): Optimizer {
  return innerOptimizerOf(config, config.innerRateScale ? parseParamScales(config.innerRateScale) : undefined);
}

/** --meta-optimizer: none for interpolation; else an optimizer whose rate is the (annealed) meta-step. */
function metaOptimizer(config: TrainConfig): Optimizer | undefined {
  switch (config.metaOptimizer) {
    case 'interpolate':
      return undefined;
    case 'sgd':
      return sgd({ learningRate: config.metaStep });
    case 'adam':
      // beta1 = 0 as the paper's inner Adam.
      return adam({ learningRate: config.metaStep, beta1: 0 });
  }
}

/** --algorithm's (or --baseline's) options: the meta-batch, the inner loop and the outer update. */
export function metaLearnerOptions<A extends Algorithm>(algorithm: A, config: TrainConfig): MetaLearnerOptions[A] {
  const metaGradient = (): MetaGradientOptions => ({
    innerIters: config.innerIters,
    innerBatch: config.innerBatch,
    metaBatch: config.metaBatch,
    innerOptimizer: trainingInnerOptimizer(config),
    tailShots: config.fomlTail,
    metaOptimizer: metaOptimizer(config),
    kernels: kernelChoice(config),
  });
  const options: { [K in Algorithm]: () => MetaLearnerOptions[K] } = {
    reptile: () => ({
      ...metaGradient(),
      tailShots: 0,
      metaStepScale: config.metaStepScale ? parseParamScales(config.metaStepScale) : undefined,
      innerState: innerStateMode(config),
    }),
    fomaml: () => ({ ...metaGradient(), innerState: config.freshInnerState ? 'fresh' : 'chain' }),
    maml: metaGradient,
    scratch: () => ({ batchSize: config.innerBatch }),
    // The same gradient steps per meta-iteration as Reptile's inner loops, with the evaluation's optimizer.
    joint: () => ({ stepsPerIteration: config.metaBatch * config.innerIters, batchSize: config.innerBatch, optimizer: innerOptimizerOf(config), kernels: kernelChoice(config) }),
  };
  return options[algorithm]();
}

/** metaTrain's schedule: how long, the annealed meta-step, when to evaluate and checkpoint. */
export function scheduleOptions(config: TrainConfig): Pick<MetaTrainOptions, 'metaIters' | 'metaStep' | 'metaStepFinal' | 'evalInterval' | 'checkpointInterval'> {
  return {
    metaIters: config.metaIters,
    metaStep: config.metaStep,
    metaStepFinal: config.metaStepFinal,
    evalInterval: config.evalInterval,
    checkpointInterval: config.checkpointInterval,
  };
}

/** The adaptation at evaluation: steps, minibatch, the inner optimizer (fresh for every task), transductive or not, the kernels allowed. */
export function evaluationOptions(config: TrainConfig): AdaptationOptions & { transductive: boolean } {
  return { ...adaptationOf(config), kernels: kernelChoice(config) };
}
