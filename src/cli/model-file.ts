/**
 * `reptile train --model-file PATH [--reinit]`: the user's own network, a tfjs-layers or Keras
 * model.json with its weights, as the library's functional model (fromLayersModel), checked
 * against the benchmark's examples and outputs before anything is written.
 */
import { tf } from '../core/tf.js';
import { messageOf } from '../data/errors.js';
import type { Model } from '../nn/model.js';
import { fromLayersModel } from '../nn/from-layers-model.js';
import { layersModelArtifacts, ModelFileError, readLayersModelFiles, type LayersModelFiles } from '../io/layers-model-files.js';
import { UsageError } from './errors.js';
import type { TrainConfig } from './config.js';

export interface UserModel {
  /** The file as given to --model-file. */
  path: string;
  model: Model;
  /** The files as read, for the run directory's copy (RUN_FILES.sourceModel). */
  files: LayersModelFiles;
}

/** The model of --model-file (undefined without one); a file that cannot be used is a one-line usage error naming it. */
export async function loadUserModel(config: Pick<TrainConfig, 'modelFile' | 'reinit'>): Promise<UserModel | undefined> {
  const path = config.modelFile;
  if (!path) return undefined;
  let files: LayersModelFiles;
  try {
    files = await readLayersModelFiles(path);
  } catch (error) {
    if (error instanceof ModelFileError) throw new UsageError(`--model-file ${error.message}`);
    throw error;
  }
  await tf.ready();
  let layersModel: tf.LayersModel;
  try {
    layersModel = await tf.loadLayersModel(tf.io.fromMemory(layersModelArtifacts(files)));
  } catch (error) {
    throw new UsageError(`--model-file ${path}: TensorFlow.js cannot build a layers model from it (${messageOf(error)})`);
  }
  try {
    return { path, model: fromLayersModel(layersModel, { reinit: config.reinit }), files };
  } catch (error) {
    throw new UsageError(`--model-file ${path}: ${messageOf(error)}`);
  } finally {
    // The functional model keeps copies of the weights it starts from.
    layersModel.dispose();
  }
}

const shape = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * The user's model if it maps one example of `inputShape` to `outputs` numbers, else a usage error
 * naming the file and both shapes. `task` says what the benchmark's tasks are ("sine", "omniglot
 * 5-way"). With `flat`, a model taking the flattened example (an MLP on images) fits too.
 */
export function fitUserModel(user: UserModel, task: string, inputShape: readonly number[], outputs: number, { flat = false } = {}): Model {
  const { model } = user;
  const size = inputShape.reduce((a, b) => a * b, 1);
  const inputFits = shape(model.inputShape) === shape(inputShape) || (flat && shape(model.inputShape) === shape([size]));
  if (inputFits && model.outputSize === outputs) return model;
  const allowed = flat && inputShape.length > 1 ? `${shape(inputShape)} (or flattened ${shape([size])})` : shape(inputShape);
  throw new UsageError(`--model-file ${user.path}: the model maps ${shape(model.inputShape)} -> ${model.outputSize}, but ${task} tasks need ${allowed} -> ${outputs}`);
}
