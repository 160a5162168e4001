/**
 * Checkpoints: everything a resumed run needs to end with the same numbers as an uninterrupted
 * one (meta-parameters, optimizer states, random-stream states, iteration, and whatever the job
 * keeps besides), in ONE file written to a temporary name and renamed, so a run killed at any
 * moment leaves either the previous checkpoint or the new one, never a mixture.
 *
 * Layout: 8-byte magic, uint32 header length, JSON header, then float32 tensor data (4-byte
 * aligned) in header order, then a uint32 FNV-1a checksum of everything before it.
 */
import { readFile } from 'node:fs/promises';
import { tf } from '../core/tf.js';
import { paramsFromHost, paramsToHost, type HostParams, type ParamSet } from '../core/params.js';
import type { OptimizerState } from '../nn/optimizers.js';
import { writeFileAtomic, type AtomicWriteOptions } from './files.js';

const MAGIC = 'RPTLCKP1';

export interface Checkpoint {
  /** Meta-iterations finished. */
  iteration: number;
  params: ParamSet;
  optimizerStates: Record<string, OptimizerState | undefined>;
  rngStates: Record<string, number[]>;
  /** JSON-serialisable job state (accumulators, results of finished phases, ...). */
  extra: Record<string, unknown>;
}

interface TensorEntry {
  name: string;
  shape: number[];
}

interface Header {
  iteration: number;
  tensors: TensorEntry[];
  optimizerStates: Record<string, { step: number; slots: string[] } | null>;
  rngStates: Record<string, number[]>;
  extra: Record<string, unknown>;
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** `options.beforeRename`: called when the temporary file is written, before the rename (for tests). */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint, options: AtomicWriteOptions = {}): Promise<void> {
  const groups: [string, ParamSet][] = [['params', checkpoint.params]];
  const optimizerStates: Header['optimizerStates'] = {};
  for (const [key, state] of Object.entries(checkpoint.optimizerStates)) {
    if (!state) {
      optimizerStates[key] = null;
      continue;
    }
    optimizerStates[key] = { step: state.step, slots: Object.keys(state.slots) };
    for (const [slot, set] of Object.entries(state.slots)) groups.push([`opt/${key}/${slot}`, set]);
  }
  const tensors: TensorEntry[] = [];
  const values: Float32Array[] = [];
  for (const [prefix, set] of groups) {
    const host = await paramsToHost(set);
    host.names.forEach((n, i) => {
      tensors.push({ name: `${prefix}/${n}`, shape: host.shapes[i] });
      values.push(host.values[i]);
    });
  }
  const header: Header = { iteration: checkpoint.iteration, tensors, optimizerStates, rngStates: checkpoint.rngStates, extra: checkpoint.extra };
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (4 - ((8 + 4 + json.length) % 4)) % 4;
  json = Uint8Array.from([...json, ...new Array(pad).fill(0x20)]);
  const dataBytes = values.reduce((n, v) => n + v.byteLength, 0);
  const out = new Uint8Array(8 + 4 + json.length + dataBytes + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  let offset = 12 + json.length;
  for (const v of values) {
    out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
    offset += v.byteLength;
  }
  view.setUint32(offset, fnv1a(out.subarray(0, offset)), true);
  await writeFileAtomic(path, out, options);
}

/** Reads a checkpoint; throws a one-line error naming the file if it is missing, truncated or corrupt. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    throw new Error(`checkpoint ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const bad = (why: string) => new Error(`checkpoint ${path} is unusable: ${why}`);
  if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw bad('not a reptile checkpoint');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 4;
  if (view.getUint32(end, true) !== fnv1a(bytes.subarray(0, end))) throw bad('checksum mismatch (truncated or corrupt)');
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Header;
  let offset = 12 + headerLength;
  const byName = new Map<string, tf.Tensor>();
  const aligned = bytes.slice(offset, end); // a copy at offset 0: Float32Array needs alignment
  let local = 0;
  for (const t of header.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const host: HostParams = { names: [t.name], shapes: [t.shape], values: [new Float32Array(aligned.buffer, local, size).slice()] };
    byName.set(t.name, paramsFromHost(host)[t.name]);
    local += size * 4;
  }
  offset += local;
  const group = (prefix: string): ParamSet => {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, tensor] of byName) if (name.startsWith(`${prefix}/`)) out[name.slice(prefix.length + 1)] = tensor;
    return out;
  };
  const optimizerStates: Checkpoint['optimizerStates'] = {};
  for (const [key, state] of Object.entries(header.optimizerStates)) {
    optimizerStates[key] = state ? { step: state.step, slots: Object.fromEntries(state.slots.map((slot) => [slot, group(`opt/${key}/${slot}`)])) } : undefined;
  }
  return { iteration: header.iteration, params: group('params'), optimizerStates, rngStates: header.rngStates, extra: header.extra };
}
