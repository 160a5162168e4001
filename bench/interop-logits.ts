/**
 * Our logits for bench/pytorch_interop.py: a model applied to the tensor `x` of
 * INPUTS.safetensors, written as the tensor `logits` of OUT.safetensors (with the backend in its
 * metadata). The model and parameters are either a run's (RUN_DIR: its model/, or with --params
 * a safetensors state_dict read as `--init-from` reads it), or those of a safetensors file that
 * names its model in `__metadata__.modelSpec` (as `reptile export` and the bench write them).
 *
 *   node dist/bench/interop-logits.js RUN_DIR|FILE.safetensors INPUTS.safetensors OUT.safetensors [--params FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { decodeSafetensors, encodeSafetensors } from '../src/core/safetensors.js';
import { buildModel } from '../src/nn/build.js';
import type { Model } from '../src/nn/model.js';
import { loadModel } from '../src/io/model-files.js';
import { loadSafetensorsParams } from '../src/io/safetensors-files.js';

const [source, inputs, out, flag, paramsFile] = process.argv.slice(2);
if (!source || !inputs || !out || (flag !== undefined && (flag !== '--params' || !paramsFile))) {
  console.error('usage: node dist/bench/interop-logits.js RUN_DIR|FILE.safetensors INPUTS.safetensors OUT.safetensors [--params FILE.safetensors]');
  process.exit(2);
}
const backend = await useBackend((process.env.REPTILE_BACKEND as 'auto' | 'wasm' | 'cpu' | 'node' | undefined) ?? 'auto');
let model: Model;
let params: ParamSet;
if (source.endsWith('.safetensors')) {
  model = buildModel(JSON.parse(decodeSafetensors(await readFile(source)).metadata.modelSpec));
  params = (await loadSafetensorsParams(source, model)).params;
} else {
  ({ model, params } = await loadModel(join(source, 'model')));
}
if (paramsFile) {
  disposeParams(params);
  params = (await loadSafetensorsParams(paramsFile, model)).params;
}
const { x } = decodeSafetensors(await readFile(inputs)).tensors;
const logits = tf.tidy(() => model.apply(params, tf.tensor(x.data, x.shape)));
await writeFile(out, encodeSafetensors({ tensors: { logits: { shape: logits.shape, data: logits.dataSync() as Float32Array } }, metadata: { backend } }));
logits.dispose();
disposeParams(params);
