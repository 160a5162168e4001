/** A run's exported meta-parameters in the page (kept apart from run-data.ts so the dashboard does not load TensorFlow.js). */
import { modelFromArtifacts, type ModelJson } from '../src/index.js';
import { fetchJson, fetchOk, runUrl } from './run-data.js';

/** The run's exported meta-parameters (model/model.json + weights.bin). */
export async function loadRunModel(name: string) {
  const json = await fetchJson<ModelJson>(runUrl(name, 'model/model.json'));
  const paths = json.weightsManifest.flatMap((g) => g.paths);
  const parts = await Promise.all(paths.map(async (p) => new Uint8Array(await (await fetchOk(runUrl(name, `model/${p}`))).arrayBuffer())));
  const weights = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += p.length;
  }
  return modelFromArtifacts(json, weights);
}

