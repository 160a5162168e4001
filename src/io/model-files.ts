/** Saving and loading a model directory (model.json + weights.bin) on disk. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParamSet } from '../core/params.js';
import type { Model, ModelWithSpec } from '../nn/model.js';
import { writeFileAtomic, writeJsonAtomic } from './files.js';
import { modelFromArtifacts, toArtifacts, WEIGHTS_FILE, type ModelJson } from './model-format.js';

export async function saveModel(dir: string, model: Model, params: ParamSet, metadata: Record<string, unknown> = {}): Promise<void> {
  const { json, weights } = await toArtifacts(model, params, metadata);
  // Weights first: a model.json on disk always points at complete weights.
  await writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  await writeJsonAtomic(join(dir, 'model.json'), json);
}

/** Loads a model directory; a missing, truncated or corrupt file is an error naming the directory. */
export async function loadModel(dir: string): Promise<{ model: ModelWithSpec; params: ParamSet; json: ModelJson }> {
  const jsonPath = join(dir, 'model.json');
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
  } catch (error) {
    if (error instanceof SyntaxError) throw new Error(`${jsonPath}: not valid JSON (${error.message})`);
    throw error;
  }
  try {
    if (!Array.isArray(json?.weightsManifest)) throw new Error('model.json has no weightsManifest');
    const paths = json.weightsManifest.flatMap((g) => g.paths);
    const parts = await Promise.all(paths.map((p) => readFile(join(dir, p))));
    const weights = new Uint8Array(Buffer.concat(parts));
    return { ...modelFromArtifacts(json, weights), json };
  } catch (error) {
    throw new Error(`cannot load the model in ${dir}: ${(error as Error).message}`);
  }
}
