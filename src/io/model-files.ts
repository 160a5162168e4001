/** Saving and loading a model directory (model.json + weights.bin) on disk. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParamSet } from '../core/params.js';
import type { Model } from '../nn/model.js';
import { writeFileAtomic, writeJsonAtomic } from './files.js';
import { modelFromArtifacts, toArtifacts, WEIGHTS_FILE, type ModelJson } from './model-format.js';

export async function saveModel(dir: string, model: Model, params: ParamSet, metadata: Record<string, unknown> = {}): Promise<void> {
  const { json, weights } = await toArtifacts(model, params, metadata);
  // Weights first: a model.json on disk always points at complete weights.
  await writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  await writeJsonAtomic(join(dir, 'model.json'), json);
}

export async function loadModel(dir: string): Promise<{ model: Model; params: ParamSet; json: ModelJson }> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
  const paths = json.weightsManifest.flatMap((g) => g.paths);
  const parts = await Promise.all(paths.map((p) => readFile(join(dir, p))));
  const weights = new Uint8Array(Buffer.concat(parts));
  return { ...modelFromArtifacts(json, weights), json };
}
