/**
 * Meta-parameters in TensorFlow.js model format (model.json + one weights file), written
 * through tfjs-layers so that the files load with `tf.loadLayersModel` as an ordinary Keras-style
 * model. Our own model description rides along in `userDefinedMetadata`, from which
 * `modelFromArtifacts` rebuilds the functional model. Runs in Node and in the browser.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Model, ModelSpec, ModelWithSpec } from '../nn/model.js';
import { buildModel } from '../nn/build.js';
import { convLayersModel, isExportOnlyWeight, setExportWeights } from '../nn/conv.js';
import { embeddingBagLayersModel } from '../nn/embedding-bag.js';
import { layersModelFromSpec } from '../nn/from-layers-model.js';

export const WEIGHTS_FILE = 'weights.bin';

/** The model file's JSON (what model.json holds). */
export interface ModelJson {
  format: string;
  generatedBy: string;
  convertedBy: null;
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata: { reptile: { spec: ModelSpec; paramNames: string[] } & Record<string, unknown> };
}

/** The model's spec, or a clear error for a model without one (a hand-written functional model). */
function specOf(model: Model, what: string): ModelSpec {
  if (!model.spec) throw new Error(`${what}: the model has no spec (a hand-written functional model), so it cannot be rebuilt as a tfjs-layers model; write it as a tf.LayersModel and convert it with fromLayersModel to export it`);
  return model.spec;
}

/**
 * A converted model's own architecture (same layer names) with `params` as its weights. Batch
 * norm's moving statistics are mean 0 and variance 1, as convLayersModel exports them: the
 * functional model keeps none (it always normalises with the batch's statistics, which the
 * LayersModel does when called with `training: true`).
 */
function layersModelWithParams(spec: Extract<ModelSpec, { kind: 'layers' }>, params: ParamSet): tf.LayersModel {
  const layersModel = layersModelFromSpec(spec);
  setExportWeights(layersModel, params, 'toLayersModel');
  return layersModel;
}

/** A tfjs-layers model with the same architecture and weights as `model` with `params`. */
export function toLayersModel(model: Model, params: ParamSet): tf.LayersModel {
  const spec = specOf(model, 'toLayersModel');
  if (spec.kind === 'conv') return convLayersModel(spec, params);
  if (spec.kind === 'embedding-bag') return embeddingBagLayersModel(spec, params);
  if (spec.kind === 'layers') return layersModelWithParams(spec, params);
  const layers = spec.sizes.length - 1;
  const seq = tf.sequential();
  for (let l = 0; l < layers; l++) {
    seq.add(
      tf.layers.dense({
        name: `dense${l}`,
        units: spec.sizes[l + 1],
        activation: l < layers - 1 ? spec.activation : 'linear',
        ...(l === 0 ? { inputShape: [spec.sizes[0]] } : {}),
      }),
    );
  }
  seq.setWeights(Object.keys(params).map((n) => params[n]));
  return seq;
}

/** The model file's JSON and the weight bytes. */
export async function toArtifacts(model: Model, params: ParamSet, metadata: Record<string, unknown> = {}): Promise<{ json: ModelJson; weights: Uint8Array }> {
  const spec = specOf(model, 'toArtifacts');
  const layersModel = toLayersModel(model, params);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await layersModel.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  layersModel.dispose();
  const a = artifacts!;
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData as ArrayBuffer | ArrayBuffer[]));
  const json: ModelJson = {
    format: 'layers-model',
    generatedBy: `reptile (TensorFlow.js ${tf.version.tfjs})`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: a.weightSpecs! }],
    userDefinedMetadata: { reptile: { ...metadata, spec, paramNames: Object.keys(params) } },
  };
  return { json, weights };
}

/** Rebuilds the functional model and its parameters from a model file's JSON and weight bytes. */
export function modelFromArtifacts(json: ModelJson, weights: Uint8Array): { model: ModelWithSpec; params: ParamSet } {
  const meta = json.userDefinedMetadata?.reptile;
  if (!meta?.spec || !Array.isArray(meta.paramNames)) throw new Error('model.json was not written by reptile (no userDefinedMetadata.reptile)');
  if (!Array.isArray(json.weightsManifest)) throw new Error('model.json has no weightsManifest');
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  // A conv model's file also holds batch norm's moving statistics, which are not parameters.
  const paramSpecs = meta.spec.kind === 'conv' || meta.spec.kind === 'layers' ? specs.filter((s) => !isExportOnlyWeight(s.name)) : specs;
  if (paramSpecs.length !== meta.paramNames.length) throw new Error(`model.json lists ${paramSpecs.length} weights, expected ${meta.paramNames.length}`);
  const expectedBytes = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'bool' ? 1 : 4), 0);
  if (specs.every((s) => !s.quantization) && weights.byteLength !== expectedBytes) {
    throw new Error(`the weights are ${weights.byteLength} bytes but model.json describes ${expectedBytes}: the weights file is truncated or corrupt`);
  }
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const named = tf.io.decodeWeights(buffer, specs);
  const params: Record<string, tf.Tensor> = {};
  // Weights are stored in parameter order; tfjs-layers names them after the layers (a converted
  // model's parameters are named like its weights, so those are matched by name).
  if (meta.spec.kind === 'layers') {
    for (const name of meta.paramNames) if (!paramSpecs.some((s) => s.name === name)) throw new Error(`model.json has no weight '${name}'`);
    for (const name of meta.paramNames) params[name] = named[name];
  } else paramSpecs.forEach((s, i) => (params[meta.paramNames[i]] = named[s.name]));
  for (const s of specs) if (!paramSpecs.includes(s)) named[s.name].dispose();
  return { model: buildModel(meta.spec), params };
}
