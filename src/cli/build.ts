/** Turns a resolved configuration into the library objects it names. */
import type { ParamSet } from '../core/params.js';
import { Reptile } from '../algorithms/reptile.js';
import type { InnerLoop } from '../core/inner-loop.js';
import { JointTraining } from '../algorithms/joint.js';
import { JointClassification } from '../algorithms/joint-classification.js';
import { FewShotClassification } from '../tasks/few-shot.js';
import { GlobalLabelBatches } from '../tasks/global-label-batches.js';
import { Fomaml } from '../algorithms/fomaml.js';
import { Maml } from '../algorithms/maml.js';
import { Scratch } from '../algorithms/scratch.js';
import type { MetaLearner, MetaLearnerSetup } from '../algorithms/meta-learner.js';
import { checkParamScales, parseParamScales } from '../nn/param-scales.js';
import type { Model } from '../nn/model.js';
import { Rng } from '../core/rng.js';
import { tf } from '../core/tf.js';
import type { TrainConfig } from './config.js';
import { UsageError } from './errors.js';
import { metaLearnerOptions } from './library-options.js';

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

/** Throws a usage error when --algorithm maml would differentiate a model (a --model-file network) whose second derivatives tfjs gets wrong. */
export function checkSecondOrder(config: TrainConfig, model: Model): void {
  if (config.algorithm === 'maml' && model.secondOrderUnsupported) {
    throw new UsageError(`--algorithm maml${config.modelFile ? ` --model-file ${config.modelFile}` : ''}: second-order MAML cannot differentiate this model exactly (${model.secondOrderUnsupported}); use --algorithm fomaml or reptile`);
  }
}

/**
 * `innerLoop`: what adapts Reptile's meta-batches (the worker pool with --workers n >= 2; default:
 * the factory's choice in this thread). The layer-wise scales' names are checked before
 * (checkLayerwiseScales, before the run directory is written).
 */
export function buildLearner(algorithm: TrainConfig['algorithm'], config: TrainConfig, setup: MetaLearnerSetup, initialParams: ParamSet, innerLoop?: InnerLoop): MetaLearner {
  switch (algorithm) {
    case 'reptile':
      return new Reptile(setup, initialParams, { ...metaLearnerOptions('reptile', config), innerLoop });
    case 'fomaml':
      return new Fomaml(setup, initialParams, metaLearnerOptions('fomaml', config));
    case 'maml':
      return new Maml(setup, initialParams, metaLearnerOptions('maml', config));
    case 'scratch':
      return new Scratch(setup, initialParams, metaLearnerOptions('scratch', config));
    case 'joint':
      // Classification: the paper's joint training over all training classes' global labels.
      if (setup.layout instanceof FewShotClassification) {
        return new JointClassification(setup, initialParams, {
          ...metaLearnerOptions('joint', config),
          batches: new GlobalLabelBatches(setup.layout.classes, setup.layout.inputShape),
        });
      }
      return new JointTraining(setup, initialParams, metaLearnerOptions('joint', config));
  }
}
