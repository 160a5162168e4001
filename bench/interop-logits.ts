/**
 * Our logits for bench/pytorch_interop.py: the model of RUN_DIR (its model/, or with --params the
 * parameters of a safetensors state_dict, read as `--init-from` reads them) applied to the tensor
 * `x` of INPUTS.safetensors, written as the tensor `logits` of OUT.safetensors.
 *
 *   node dist/bench/interop-logits.js RUN_DIR INPUTS.safetensors OUT.safetensors [--params FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { disposeParams } from '../src/core/params.js';
import { decodeSafetensors, encodeSafetensors } from '../src/core/safetensors.js';
import { loadModel } from '../src/io/model-files.js';
import { loadSafetensorsParams } from '../src/io/safetensors-files.js';

const [runDir, inputs, out, flag, paramsFile] = process.argv.slice(2);
if (!runDir || !inputs || !out || (flag !== undefined && (flag !== '--params' || !paramsFile))) {
  console.error('usage: node dist/bench/interop-logits.js RUN_DIR INPUTS.safetensors OUT.safetensors [--params FILE.safetensors]');
  process.exit(2);
}
const backend = await useBackend((process.env.REPTILE_BACKEND as 'auto' | 'wasm' | 'cpu' | 'node' | undefined) ?? 'auto');
const loaded = await loadModel(join(runDir, 'model'));
let params = loaded.params;
if (paramsFile) {
  disposeParams(params);
  params = (await loadSafetensorsParams(paramsFile, loaded.model)).params;
}
const { x } = decodeSafetensors(await readFile(inputs)).tensors;
const logits = tf.tidy(() => loaded.model.apply(params, tf.tensor(x.data, x.shape)));
await writeFile(out, encodeSafetensors({ tensors: { logits: { shape: logits.shape, data: logits.dataSync() as Float32Array } }, metadata: { backend } }));
logits.dispose();
disposeParams(params);
