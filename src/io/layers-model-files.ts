/**
 * A TensorFlow.js layers model on disk (model.json with its weight files beside it, as
 * tensorflowjs_converter writes a Keras model, or a run's model/): read and checked before
 * TensorFlow.js sees it, so that a missing or truncated file is a one-line error naming it, and
 * written back as one model.json + weights.bin (a run keeps the model it started from).
 * tf.io.fileSystem (tfjs-node) would read the files, but it is not a dependency here, and its
 * errors for a missing or short weights file are not one line naming the file.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { tf } from '../core/tf.js';
import { writeFileAtomic, writeJsonAtomic } from './files.js';

/** A model file that cannot be used: one line naming the file and what is wrong. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
  constructor(message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** model.json of the tfjs layers-model format (the fields read here). */
export interface LayersModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: unknown;
  weightsManifest: tf.io.WeightsManifestConfig;
  userDefinedMetadata?: Record<string, {}>;
}

/** A layers model's files as read: the JSON and the weights of every weights file, concatenated in manifest order. */
export interface LayersModelFiles {
  json: LayersModelJson;
  weights: Uint8Array;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes of one manifest entry (quantized entries are stored in their quantized type). */
function entryBytes(entry: tf.io.WeightsManifestEntry): number {
  const dtype = entry.quantization?.dtype ?? entry.dtype;
  const size = BYTES[dtype];
  if (size === undefined) throw new Error(`weight ${entry.name} has dtype ${dtype}; allowed: float32, int32, bool (quantized: uint8, uint16, float16)`);
  return entry.shape.reduce((a, b) => a * b, 1) * size;
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/** Reads model.json at `path` and the weights files its manifest names (relative to it); every problem is a ModelFileError naming the file. */
export async function readLayersModelFiles(path: string): Promise<LayersModelFiles> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelFileError(`${path}: cannot read it (${errorCode(error)})`);
  }
  let json: LayersModelJson;
  try {
    json = JSON.parse(text) as LayersModelJson;
  } catch (error) {
    throw new ModelFileError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  const hint = 'expected a TensorFlow.js layers model.json (tensorflowjs_converter --output_format tfjs_layers_model, or a run\'s model/)';
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFileError(`${path}: not a model file: ${hint}`);
  if (json.format === 'graph-model') throw new ModelFileError(`${path}: a graph model (format graph-model) has no layers to meta-learn: ${hint}`);
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) throw new ModelFileError(`${path}: no modelTopology: ${hint}`);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest) || manifest.some((g) => !Array.isArray(g?.paths) || !Array.isArray(g?.weights))) {
    throw new ModelFileError(`${path}: no valid weightsManifest (a list of {paths, weights}): ${hint}`);
  }
  const dir = dirname(path);
  const parts: Uint8Array[] = [];
  for (const group of manifest) {
    for (const file of group.paths) {
      try {
        parts.push(await readFile(join(dir, file)));
      } catch (error) {
        throw new ModelFileError(`${path}: cannot read its weights file ${join(dir, file)} (${errorCode(error)})`);
      }
    }
  }
  const weights = new Uint8Array(Buffer.concat(parts));
  let expected: number;
  try {
    expected = manifest.flatMap((g) => g.weights).reduce((n, w) => n + entryBytes(w), 0);
  } catch (error) {
    throw new ModelFileError(`${path}: ${(error as Error).message}`);
  }
  if (weights.byteLength !== expected) {
    const files = manifest.flatMap((g) => g.paths).join(', ');
    throw new ModelFileError(`${path}: its weights file(s) ${files} hold ${weights.byteLength} bytes but its weightsManifest describes ${expected}: truncated, or not this model's`);
  }
  return { json, weights };
}

/** The files as tf.io.ModelArtifacts, for tf.loadLayersModel(tf.io.fromMemory(...)). */
export function layersModelArtifacts({ json, weights }: LayersModelFiles): tf.io.ModelArtifacts {
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    ...(json.format ? { format: json.format } : {}),
    ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
    ...(json.convertedBy ? { convertedBy: json.convertedBy } : {}),
    ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
  };
}

/** Writes the files into `dir` as model.json + weights.bin (weights first: model.json always points at complete weights). */
export async function writeLayersModelFiles(dir: string, { json, weights }: LayersModelFiles): Promise<string> {
  const file = 'weights.bin';
  await writeFileAtomic(join(dir, file), weights);
  const out = join(dir, 'model.json');
  await writeJsonAtomic(out, { ...json, weightsManifest: [{ paths: [file], weights: json.weightsManifest.flatMap((g) => g.weights) }] });
  return resolve(out);
}
