/**
 * Few-shot image classification as a benchmark of `reptile train` (Omniglot and a user's image
 * folders): the network for images, then the generic few-shot benchmark (few-shot.ts).
 */
import { mlp } from '../../nn/mlp.js';
import { conv } from '../../nn/conv.js';
import type { Model } from '../../nn/model.js';
import type { ImageClassSet } from '../../data/image-class.js';
import { UsageError } from '../errors.js';
import type { BenchmarkSetup } from '../benchmark.js';
import type { TrainConfig } from '../config.js';
import { fewShotBenchmark } from './few-shot.js';
import { fitUserModel, type UserModel } from '../model-file.js';

/** The network `config.model` names (or `user`'s, of --model-file), for N-way tasks on images of `inputShape` [h, w, c]. */
export function imageModel(config: TrainConfig, inputShape: number[], user?: UserModel): Model {
  const classes = config.classes!;
  if (user) return fitUserModel(user, `${config.benchmark} ${classes}-way`, inputShape, classes, { flat: true });
  switch (config.model) {
    case 'mlp':
      return mlp([inputShape.reduce((a, b) => a * b, 1), ...config.hidden, classes], { activation: config.activation, init: config.init });
    case 'conv':
      return conv({ variant: 'omniglot', classes, inputShape, init: config.init });
    case 'conv-miniimagenet':
      return conv({ variant: 'miniimagenet', classes, inputShape, init: config.init });
    case 'embedding-bag':
    case 'weighted-embedding-bag':
      throw new UsageError(`--model ${config.model} is for text (clinc150, banking77): use --model mlp, conv or conv-miniimagenet`);
  }
}

export interface ImageSplits {
  train: ImageClassSet;
  test: ImageClassSet;
  validation?: ImageClassSet;
}

/**
 * N-way K-shot classification on image classes (Omniglot, or a user's folders): meta-train on the
 * train split's classes, evaluate on the test split's (and the validation split's, if any).
 */
export function fewShotImageBenchmark(config: TrainConfig, name: string, splits: ImageSplits, user?: UserModel): BenchmarkSetup {
  const inputShape = [splits.train.size, splits.train.size, splits.train.channels];
  return fewShotBenchmark(config, name, imageModel(config, inputShape, user), inputShape, {
    train: splits.train.classes,
    test: splits.test.classes,
    ...(splits.validation ? { validation: splits.validation.classes } : {}),
  });
}
