/**
 * The safetensors file format (Hugging Face's, the usual way to carry PyTorch weights), F32 only:
 * an 8-byte little-endian header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: string}}`, then the
 * tensors' raw little-endian bytes, the offsets counted from the end of the header.
 *
 * Written here rather than taken from npm: the only package of that name ('safetensors' 0.0.1)
 * is a single release without a repository or tests, and @huggingface/hub only parses the headers
 * of files on the Hub (no writer). This module is small, has no dependencies, and runs in Node and
 * the browser (bytes in, bytes out).
 */

/** One tensor: its shape and its values in row-major order. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  tensors: Record<string, F32Tensor>;
  /** `__metadata__`: string keys to string values (the format allows only strings). */
  metadata: Record<string, string>;
}

/** A file that is not valid safetensors, or holds what this reader does not support. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const F32_BYTES = 4;
/** The size of each dtype the format defines, to check a file's offsets even for tensors it cannot convert. */
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1 };
/** Headers larger than this are refused (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The file's bytes: tensors in name order, the header padded with spaces to a multiple of 8 bytes (as the reference writer does). */
export function encodeSafetensors({ tensors, metadata }: SafetensorsContent): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (name === '__metadata__') throw new SafetensorsError("a tensor cannot be named '__metadata__'");
    if (count(shape) !== data.length) throw new SafetensorsError(`tensor ${name}: shape [${shape}] holds ${count(shape)} values, got ${data.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length * F32_BYTES] };
    offset += data.length * F32_BYTES;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const bytes = new Uint8Array(8 + json.length + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    for (const value of tensors[name].data) {
      view.setFloat32(at, value, true);
      at += F32_BYTES;
    }
  }
  return bytes;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function checkEntry(name: string, entry: unknown): HeaderEntry {
  const e = entry as Partial<HeaderEntry> | null;
  const fail = (what: string) => new SafetensorsError(`tensor ${name}: ${what}`);
  if (typeof e !== 'object' || e === null) throw fail('its header entry is not an object');
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) throw fail(`unknown dtype ${JSON.stringify(e.dtype)}`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw fail(`shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
    throw fail(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const bytes = count(e.shape) * DTYPE_BYTES[e.dtype];
  if (offsets[1] - offsets[0] !== bytes) throw fail(`data_offsets ${JSON.stringify(offsets)} span ${offsets[1] - offsets[0]} bytes, its ${e.dtype} shape [${e.shape}] needs ${bytes}`);
  return e as HeaderEntry;
}

/**
 * The tensors and metadata of a safetensors file. Checks what the reference reader checks (the
 * header's length and JSON, each entry, the tensors tiling the data exactly) and throws a
 * SafetensorsError saying what is wrong; tensors of dtypes other than F32 are refused by name.
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContent {
  if (bytes.length < 8) throw new SafetensorsError(`truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw new SafetensorsError(`truncated or not safetensors: the header length says ${headerLength} bytes, the file has ${bytes.length - 8} after it`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw new SafetensorsError(`not safetensors: the header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError('not safetensors: the header is not a JSON object');
  const { __metadata__: rawMetadata, ...entries } = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if (rawMetadata !== undefined) {
    if (typeof rawMetadata !== 'object' || rawMetadata === null || Array.isArray(rawMetadata)) throw new SafetensorsError('__metadata__ is not an object');
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== 'string') throw new SafetensorsError(`__metadata__.${key} is not a string`);
      metadata[key] = value;
    }
  }
  const checked = Object.entries(entries).map(([name, entry]) => [name, checkEntry(name, entry)] as const);
  // The tensors must cover the data exactly, without gaps or overlaps (as the reference reader requires).
  const byOffset = [...checked].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let end = 0;
  for (const [name, entry] of byOffset) {
    if (entry.data_offsets[0] !== end) throw new SafetensorsError(`tensor ${name}: data_offsets ${JSON.stringify(entry.data_offsets)} leave a gap or overlap at byte ${end} of the data`);
    end = entry.data_offsets[1];
  }
  const dataBytes = bytes.length - dataStart;
  if (end !== dataBytes) {
    throw new SafetensorsError(end > dataBytes ? `truncated: the tensors need ${end} bytes of data, the file has ${dataBytes}` : `${dataBytes - end} bytes after the last tensor's data`);
  }
  const tensors: Record<string, F32Tensor> = {};
  for (const [name, entry] of checked) {
    if (entry.dtype !== 'F32') throw new SafetensorsError(`tensor ${name} is ${entry.dtype}; only F32 is supported (save it as float32, e.g. tensor.float())`);
    const data = new Float32Array(count(entry.shape));
    const at = dataStart + entry.data_offsets[0];
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(at + i * F32_BYTES, true);
    tensors[name] = { shape: [...entry.shape], data };
  }
  return { tensors, metadata };
}
