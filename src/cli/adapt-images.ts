/**
 * `reptile adapt RUN_DIR --examples DIR` for an image run (omniglot, images): the user's
 * `<class>/<image>` folders are preprocessed as the run's training images were (size, channels,
 * inversion: the loaders' own options), the run's model is adapted to them exactly as `reptile
 * eval` adapts to a support set (src/eval/adapt.ts through the inner-loop factory, so with the
 * fused kernels the run may use: the run's inner optimizer, learning rate, --eval-iters steps on
 * minibatches of --eval-batch), and every input image gets the most probable class.
 *
 * Prediction follows eval's protocol (src/eval/classification.ts queryLogits, via the demo page's
 * FewShotDemo): non-transductive (the run's default) predicts each input in one batch with the
 * whole support set, so a CNN's batch norm, which always uses batch statistics as the paper's
 * models do, normalises it with the support set's statistics and the other inputs change nothing;
 * the probability is the softmax of that input's logits. A transductive run predicts the inputs
 * together, in batches of up to 256.
 */
import { IMAGE_EXTENSIONS, resolvedImageFolderOptions } from '../data/image-folder.js';
import { omniglotPreprocessing } from '../data/omniglot.js';
import { DatasetError } from '../data/errors.js';
import { StoredImageClass, type StoredClass } from '../data/image-class.js';
import type { PreprocessOptions } from '../data/image.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import type { Model } from '../nn/model.js';
import { FewShotDemo, type LabelledExamples } from '../demo/few-shot-demo.js';
import { listInputImages, readExampleClasses, readImages } from '../io/example-images.js';
import { evaluationOptions } from './library-options.js';
import { readInputLines, writePredictions, type Predicted } from './adapt-io.js';
import { UsageError } from './errors.js';
import type { TrainConfig } from './config.js';

export const IMAGE_BENCHMARKS: readonly string[] = ['omniglot', 'images'];

/** Inputs classified per batch (bounds the memory of a large --input folder). */
const CHUNK = 256;

export interface AdaptFlags {
  examples: string;
  input?: string;
  evalIters?: number;
  evalBatch?: number;
  learningRate?: number;
  seed?: number;
  json?: boolean;
}

/** How the run's training images became model inputs: the options its benchmark's loader used. */
export function runImagePreprocessing(config: TrainConfig): PreprocessOptions {
  // `reptile train omniglot` has no size flag: the loader's default size.
  if (config.benchmark === 'omniglot') return omniglotPreprocessing();
  const { size, channels, invert } = resolvedImageFolderOptions({ size: config.imageSize, channels: config.channels });
  return { size, channels, invert };
}

/** A data-layer error as a one-line usage error naming the flag. */
async function orUsageError<T>(flag: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof DatasetError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

/** value / 255 floats of every stored image, as training feeds them (src/data/image-class.ts). */
function floats(stored: StoredClass, size: number, channels: number): Float32Array[] {
  const images = new StoredImageClass(stored, size, channels);
  return Array.from({ length: stored.count }, (_, i) => {
    const out = new Float32Array(size * size * channels);
    images.image(i, out, 0);
    return out;
  });
}

export async function adaptImageRun(dir: string, config: TrainConfig, flags: AdaptFlags, loadRunModel: () => Promise<{ model: Model; params: ParamSet }>): Promise<void> {
  const preprocess = runImagePreprocessing(config);
  const channels = preprocess.channels === 'rgb' ? 3 : 1;
  const ways = config.classes!;
  const examples = flags.examples;
  const classes = await orUsageError('--examples', () => readExampleClasses(examples, preprocess, channels));
  if (classes.length !== ways) {
    const found = classes.length === 0 ? 'found none' : `found ${classes.length} (${classes.map((c) => c.name).join(', ')})`;
    throw new UsageError(`--examples ${examples}: the run is ${ways}-way, so ${ways} class folders <class>/*.png|jpg are expected; ${found}`);
  }
  const paths = flags.input !== undefined ? await listInputImages(flags.input) : await readInputLines(undefined);
  if (paths.length === 0) {
    throw new UsageError(flags.input !== undefined ? `--input ${flags.input}: no images (${IMAGE_EXTENSIONS.join(', ')}) in it` : 'no images to classify: give --input FILE|DIR, or image paths on stdin, one per line');
  }
  const inputs = await orUsageError('--input', () => readImages(paths, preprocess, channels));

  const { model, params } = await loadRunModel();
  const inputSize = preprocess.size * preprocess.size * channels;
  // Any image model fits (the library's MLP and CNNs, or a --model-file architecture) when its shapes do.
  if (model.outputSize !== ways || model.inputShape.reduce((a, b) => a * b, 1) !== inputSize) {
    disposeParams(params);
    throw new UsageError(`adapt ${dir}: the run's model (${model.spec?.kind ?? 'no spec'}, [${model.inputShape}] -> ${model.outputSize}) does not take ${ways}-way ${preprocess.size}x${preprocess.size}x${channels} images as config.json says`);
  }
  const adaptation = evaluationOptions({
    ...config,
    evalIters: flags.evalIters ?? config.evalIters,
    evalBatch: flags.evalBatch ?? config.evalBatch,
    learningRate: flags.learningRate ?? config.learningRate,
  });
  const demo = new FewShotDemo(model, params, adaptation);
  try {
    const support: LabelledExamples = { x: [], y: [] };
    classes.forEach((c, label) => {
      for (const x of floats(c, preprocess.size, channels)) {
        support.x.push(x);
        support.y.push(label);
      }
    });
    await demo.adapt(support, flags.seed ?? config.seed);
    const predictions: Predicted[] = [];
    const imageBytes = inputSize;
    for (let start = 0; start < paths.length; start += CHUNK) {
      const count = Math.min(CHUNK, paths.length - start);
      const chunk = { name: '--input', count, images: inputs.subarray(start * imageBytes, (start + count) * imageBytes) };
      const result = await demo.classify(floats(chunk, preprocess.size, channels));
      result.classes.forEach((c, i) => predictions.push({ label: classes[c].name, probability: result.probabilities[i][c] }));
    }
    writePredictions(predictions, paths, 'path', flags.json === true);
  } finally {
    demo.dispose();
  }
}
