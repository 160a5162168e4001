/**
 * A small, defensive zip reader (browser-safe: fflate's inflate, no fs or Buffer).
 *
 * Everything that can be checked without inflating is checked first, from the central
 * directory: the number of entries, every entry's path (no absolute paths, no `..`), the sum of
 * the declared uncompressed sizes, encryption and compression method. Only then are entries
 * inflated, one at a time and on demand, into a buffer of exactly their declared size: an entry
 * that inflates to more (a zip bomb lying about its size) is stopped as soon as it overflows,
 * and its CRC-32 is verified.
 */
import { Inflate, inflateSync } from 'fflate';
import { DatasetError, messageOf } from './errors.js';

export interface ZipLimits {
  /** Most entries (files and folders) an archive may list. */
  maxEntries?: number;
  /** Largest sum of the entries' declared uncompressed sizes, in bytes. */
  maxTotalBytes?: number;
}

/**
 * Far beyond any real Omniglot archive (20,275 and 13,860 entries, 4.4 and 3.1 MB uncompressed)
 * or a Mini-ImageNet-sized image archive, and small enough that a hostile archive is refused
 * before anything is allocated.
 */
export const DEFAULT_ZIP_LIMITS: Required<ZipLimits> = { maxEntries: 200_000, maxTotalBytes: 200 * 1024 * 1024 };

export interface ZipEntry {
  /** The path inside the archive, '/'-separated; folders end with '/'. */
  readonly name: string;
  readonly directory: boolean;
  /** Declared uncompressed size in bytes. */
  readonly size: number;
  /** Inflates the entry (verifying its size and CRC-32). Throws a DatasetError naming it. */
  data(): Uint8Array;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Refuses paths that could escape the folder they are extracted to or that are not relative:
 * absolute paths (`/x`, `\x`, `C:x`), `..` segments, NUL characters.
 */
export function checkRelativePath(path: string, source: string): void {
  const where = `${source}: entry "${path}"`;
  if (path.includes('\0')) throw new DatasetError(`${where} contains a NUL character; refusing the archive`, source);
  if (/^[\\/]/.test(path) || /^[A-Za-z]:/.test(path)) {
    throw new DatasetError(`${where} has an absolute path; refusing the archive (entries must be relative)`, source);
  }
  if (path.split(/[\\/]/).includes('..')) {
    throw new DatasetError(`${where} contains '..'; refusing the archive (entries must stay inside it)`, source);
  }
}

/**
 * Lists the entries of a zip archive after checking it against `limits` (see the module
 * comment). `source` names the archive in error messages.
 */
export function readZip(zip: Uint8Array, source: string, limits: ZipLimits = {}): ZipEntry[] {
  const maxEntries = limits.maxEntries ?? DEFAULT_ZIP_LIMITS.maxEntries;
  const maxTotalBytes = limits.maxTotalBytes ?? DEFAULT_ZIP_LIMITS.maxTotalBytes;
  const bad = (what: string): DatasetError => new DatasetError(`${source}: not a valid zip archive (${what})`, source);
  if (!(zip instanceof Uint8Array)) throw new DatasetError(`${source}: missing archive (no bytes were given)`, source);
  if (zip.length < 22) throw bad(zip.length === 0 ? 'the file is empty' : 'the file is too short');
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number): number => {
    const high = u32(at + 4);
    if (high >= 0x200000) throw bad('a 64-bit size or offset beyond 2^53');
    return high * 0x100000000 + u32(at);
  };
  const inside = (at: number, length: number): boolean => at >= 0 && length >= 0 && at + length <= zip.length;

  // End of central directory: the last signature within the final 64 KiB (+ record) of the file.
  let eocd = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (u32(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record; the file may be truncated');
  let count = u16(eocd + 10);
  let directorySize = u32(eocd + 12);
  let directoryOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === ZIP64_LOCATOR) {
    const at = u64(eocd - 12);
    if (!inside(at, 56) || u32(at) !== ZIP64_EOCD) throw bad('a broken zip64 end-of-central-directory record');
    count = u64(at + 32);
    directorySize = u64(at + 40);
    directoryOffset = u64(at + 48);
  }
  if (count > maxEntries) {
    throw new DatasetError(`${source}: the archive lists ${count} entries, more than the ${maxEntries} allowed; refusing it`, source);
  }
  if (!inside(directoryOffset, directorySize)) throw bad('the central directory lies outside the file; it may be truncated');

  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder('utf-8');
  let total = 0;
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (!inside(at, 46) || u32(at) !== CENTRAL) throw bad(`central directory entry ${i + 1} of ${count} is damaged`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localOffset = u32(at + 42);
    if (!inside(at + 46, nameLength + extraLength + commentLength)) throw bad(`central directory entry ${i + 1} is truncated`);
    const name = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    // Zip64: the sizes and offset that do not fit 32 bits are in extra field 0x0001, in this order.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      let e = at + 46 + nameLength;
      const end = e + extraLength;
      let found = false;
      while (e + 4 <= end) {
        const id = u16(e);
        const length = u16(e + 2);
        if (id === 1) {
          let f = e + 4;
          if (size === 0xffffffff) (size = u64(f)), (f += 8);
          if (compressedSize === 0xffffffff) (compressedSize = u64(f)), (f += 8);
          if (localOffset === 0xffffffff) localOffset = u64(f);
          found = true;
          break;
        }
        e += 4 + length;
      }
      if (!found) throw bad(`entry "${name}" lacks its zip64 sizes`);
    }
    at += 46 + nameLength + extraLength + commentLength;

    checkRelativePath(name, source);
    total += size;
    if (total > maxTotalBytes) {
      throw new DatasetError(
        `${source}: the entries declare more than ${maxTotalBytes} bytes uncompressed (${(maxTotalBytes / 2 ** 20).toFixed(0)} MiB); refusing the archive`,
        source,
      );
    }
    if (flags & 1) throw new DatasetError(`${source}: entry "${name}" is encrypted, which is not supported`, source);
    if (method !== 0 && method !== 8) {
      throw new DatasetError(`${source}: entry "${name}" uses compression method ${method}; only stored (0) and deflate (8) are supported`, source);
    }
    const entryName = `${source}: entry "${name}"`;
    entries.push({
      name,
      directory: name.endsWith('/'),
      size,
      data: () => {
        if (!inside(localOffset, 30) || u32(localOffset) !== LOCAL) {
          throw new DatasetError(`${entryName} is damaged or truncated (no local header)`, source);
        }
        const start = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
        if (!inside(start, compressedSize)) throw new DatasetError(`${entryName} is truncated (its data runs past the end of the archive)`, source);
        const raw = zip.subarray(start, start + compressedSize);
        let out: Uint8Array;
        if (method === 0) {
          if (compressedSize !== size) throw new DatasetError(`${entryName} is stored with ${compressedSize} bytes but declares ${size}`, source);
          out = raw.slice();
        } else {
          out = inflateExactly(raw, size, entryName, source);
        }
        if (crc32(out) !== crc) throw new DatasetError(`${entryName} is corrupt (CRC-32 mismatch)`, source);
        return out;
      },
    });
  }
  return entries;
}

/**
 * Inflates `raw` into exactly `size` bytes. Small entries (most) are inflated in one call into a
 * fixed buffer one byte longer than declared: it cannot grow, and a full buffer means the entry
 * holds more than it declared (the wasted work is bounded by ~1000x the entry's compressed
 * size, and the first such entry stops the whole archive). Larger entries are pushed through
 * the streaming inflater in slices and stopped as soon as the output overflows.
 */
function inflateExactly(raw: Uint8Array, size: number, entryName: string, source: string): Uint8Array {
  const tooBig = () => new DatasetError(`${entryName} inflates to more than its declared ${size} bytes; refusing the archive`, source);
  const slice = 65536;
  let out: Uint8Array;
  let position: number;
  if (raw.length <= slice) {
    try {
      out = inflateSync(raw, { out: new Uint8Array(size + 1) });
    } catch (error) {
      // fflate copies stored blocks with set(), which throws when they overflow the buffer.
      if (error instanceof RangeError) throw tooBig();
      throw new DatasetError(`${entryName} is damaged or truncated (${messageOf(error)})`, source);
    }
    if (out.length > size) throw tooBig();
    position = out.length;
  } else {
    const buffer = new Uint8Array(size);
    out = buffer;
    let at = 0;
    let overflow = false;
    const inflater = new Inflate((chunk) => {
      if (at + chunk.length > size) {
        overflow = true;
        throw new Error('overflow');
      }
      buffer.set(chunk, at);
      at += chunk.length;
    });
    try {
      for (let i = 0; i < raw.length; i += slice) inflater.push(raw.subarray(i, i + slice), i + slice >= raw.length);
    } catch (error) {
      if (overflow) throw tooBig();
      throw new DatasetError(`${entryName} is damaged or truncated (${messageOf(error)})`, source);
    }
    position = at;
  }
  if (position !== size) throw new DatasetError(`${entryName} is truncated (inflates to ${position} of its declared ${size} bytes)`, source);
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as in zip and PNG). */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
