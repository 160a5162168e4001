/**
 * A model's parameters as a safetensors file with PyTorch's state_dict names and layouts
 * (nn/pytorch-layout.ts), and back: what `reptile export --format safetensors` writes and
 * `--init-from` reads.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ParamSet } from '../core/params.js';
import { decodeSafetensors, encodeSafetensors } from '../core/safetensors.js';
import type { Model, ModelSpec } from '../nn/model.js';
import { fromPyTorchTensors, toPyTorchTensors } from '../nn/pytorch-layout.js';
import { writeFileAtomic } from './files.js';

/** The bytes of the export: the state_dict tensors, and the model spec and versions in `__metadata__`. */
export function safetensorsExport(spec: ModelSpec, params: ParamSet, metadata: Record<string, string>): Uint8Array {
  // format=pt: what the Python safetensors library writes for torch tensors.
  return encodeSafetensors({ tensors: toPyTorchTensors(spec, params), metadata: { format: 'pt', modelSpec: JSON.stringify(spec), ...metadata } });
}

/** Writes the export to `path` through a temporary file (an existing file is replaced only by a complete one). */
export async function saveSafetensors(path: string, spec: ModelSpec, params: ParamSet, metadata: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, safetensorsExport(spec, params, metadata));
}

/** Parameters read for `model` from a safetensors state_dict, with the file's sha256 (recorded with a run). */
export interface InitFile {
  params: ParamSet;
  sha256: string;
}

/**
 * Reads `path` as `model`'s parameters. Errors (unreadable, not safetensors, names or shapes that
 * do not fit) are one line starting with the path.
 */
export async function loadSafetensorsParams(path: string, model: Model): Promise<InitFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    if (!model.spec) throw new Error('the model has no spec (a hand-written model), so no PyTorch layout');
    const { tensors } = decodeSafetensors(bytes);
    return { params: fromPyTorchTensors(model.spec, tensors), sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}
