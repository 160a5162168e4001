/**
 * A binary cache of decoded image datasets (Node only), so that Omniglot or an image folder is
 * decoded once and then loads in a fraction of a second.
 *
 * A cache file is keyed by a SHA-256 of everything that determines its contents: the sources'
 * bytes (archives, or a folder's file list and contents), the image size and channels, and the
 * decoder's and pixel convention's versions. Layout (little-endian):
 *
 *   0   8  magic "RPTLDSET"
 *   8   4  format version (CACHE_FORMAT_VERSION)
 *   12  4  header length H (bytes of UTF-8 JSON)
 *   16  32 SHA-256 of the header JSON
 *   48  32 SHA-256 of the payload
 *   80  8  payload length P
 *   88  H  header JSON: {kind, key, size, channels, imageBytes, classes: [[name, count], ...], meta}
 *   88+H P payload: every class's images (count * imageBytes bytes each), in header order
 *
 * A file that is truncated, corrupt (either checksum), of another format version, or made for
 * another key is reported as invalid and never used; the caller rebuilds it. Files are written
 * to a temporary name in the same directory and renamed into place, so a reader sees either the
 * old file or the complete new one.
 *
 * Where: `<data dir>/.reptile-cache/` by default; when that cannot be written (a read-only data
 * directory, as /work/shared in CI), the user's cache directory `$XDG_CACHE_HOME/reptile` or
 * `~/.cache/reptile` (or `<tmpdir>/reptile-cache` without a home). A `cacheDir` option replaces
 * both; `false` disables caching.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { StoredClass } from '../data/image-class.js';

export const CACHE_FORMAT_VERSION = 1;
const MAGIC = 'RPTLDSET';
const PREFIX = 88;

export interface CachedDataset {
  /** What the file holds, e.g. 'omniglot' or 'image-folder'. */
  kind: string;
  /** Hex SHA-256 of the inputs (see the module comment). */
  key: string;
  size: number;
  channels: number;
  classes: StoredClass[];
  /** Anything JSON-serialisable worth recording (sources, pixel convention). */
  meta?: Record<string, unknown>;
}

export type CacheRead = { status: 'hit'; data: CachedDataset } | { status: 'missing' } | { status: 'invalid'; reason: string };

export interface CacheInfo {
  /** hit: loaded from `file`; miss: decoded (and written to `file`); rebuilt: a cache existed but was invalid; disabled: no cache. */
  status: 'hit' | 'miss' | 'rebuilt' | 'disabled';
  key: string;
  /** The cache file read or written (absent if none could be written). */
  file?: string;
  /** Why an existing cache file was not used. */
  reason?: string;
  /** Why no cache file could be written, if so. */
  writeError?: string;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The user's cache directory for reptile: $XDG_CACHE_HOME/reptile, ~/.cache/reptile, or <tmpdir>/reptile-cache. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'reptile');
  let home = '';
  try {
    home = homedir();
  } catch {
    home = '';
  }
  return home ? join(home, '.cache', 'reptile') : join(tmpdir(), 'reptile-cache');
}

/** The cache the command line uses: $REPTILE_CACHE_DIR, else the user's cache directory, never the data directory (it may be shared or read-only). */
export function datasetCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  // An empty value means unset: '' would otherwise put the cache in the current directory.
  return env.REPTILE_CACHE_DIR || userCacheDir(env);
}

/** Directories tried in order, for reading and for writing (see the module comment). */
export function cacheDirectories(dataDir: string, cacheDir?: string | false): string[] {
  if (cacheDir === false) return [];
  if (cacheDir !== undefined) return [cacheDir];
  return [join(dataDir, '.reptile-cache'), userCacheDir()];
}

function header(data: CachedDataset, imageBytes: number): Uint8Array {
  const json = {
    kind: data.kind,
    key: data.key,
    size: data.size,
    channels: data.channels,
    imageBytes,
    classes: data.classes.map((c) => [c.name, c.count]),
    meta: data.meta ?? {},
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Writes `data` to `file` atomically (temporary file in the same directory, then rename). */
export async function writeDatasetCache(file: string, data: CachedDataset): Promise<void> {
  const imageBytes = data.size * data.size * data.channels;
  let payloadLength = 0;
  const payloadHash = createHash('sha256');
  for (const c of data.classes) {
    if (c.images.length !== c.count * imageBytes) throw new RangeError(`${c.name}: ${c.images.length} bytes is not ${c.count} images of ${imageBytes} bytes`);
    payloadHash.update(c.images);
    payloadLength += c.images.length;
  }
  const json = header(data, imageBytes);
  const prefix = new Uint8Array(PREFIX);
  const view = new DataView(prefix.buffer);
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, CACHE_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  prefix.set(createHash('sha256').update(json).digest(), 16);
  prefix.set(payloadHash.digest(), 48);
  view.setBigUint64(80, BigInt(payloadLength), true);

  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.write(prefix);
      await handle.write(json);
      for (const c of data.classes) if (c.images.length) await handle.write(c.images);
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

/** Reads and fully verifies a cache file made for `expected.kind` and `expected.key`. */
export async function readDatasetCache(file: string, expected: { kind: string; key: string }): Promise<CacheRead> {
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing' };
    return { status: 'invalid', reason: `cannot be read (${code ?? (error as Error).message})` };
  }
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const invalid = (reason: string): CacheRead => ({ status: 'invalid', reason });
  if (bytes.length < PREFIX) return invalid(`truncated (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return invalid('not a reptile dataset cache (bad magic)');
  const version = view.getUint32(8, true);
  if (version !== CACHE_FORMAT_VERSION) return invalid(`format version ${version}, expected ${CACHE_FORMAT_VERSION}`);
  const headerLength = view.getUint32(12, true);
  const payloadLength = Number(view.getBigUint64(80, true));
  if (PREFIX + headerLength + payloadLength !== bytes.length) {
    return invalid(`truncated or padded (${bytes.length} bytes, header and payload say ${PREFIX + headerLength + payloadLength})`);
  }
  const json = bytes.subarray(PREFIX, PREFIX + headerLength);
  if (!equalBytes(createHash('sha256').update(json).digest(), bytes.subarray(16, 48))) return invalid('header checksum mismatch');
  let head: { kind: string; key: string; size: number; channels: number; imageBytes: number; classes: [string, number][]; meta: Record<string, unknown> };
  try {
    head = JSON.parse(new TextDecoder().decode(json));
  } catch {
    return invalid('unreadable header');
  }
  if (head.kind !== expected.kind) return invalid(`holds '${head.kind}', not '${expected.kind}'`);
  if (head.key !== expected.key) return invalid('made from other sources or settings (key mismatch)');
  const payload = bytes.subarray(PREFIX + headerLength);
  if (!equalBytes(createHash('sha256').update(payload).digest(), bytes.subarray(48, 80))) return invalid('payload checksum mismatch');
  if (head.imageBytes !== head.size * head.size * head.channels || !Array.isArray(head.classes)) return invalid('inconsistent header');
  const classes: StoredClass[] = [];
  let at = 0;
  for (const entry of head.classes) {
    const [name, count] = entry;
    const length = count * head.imageBytes;
    if (typeof name !== 'string' || !Number.isSafeInteger(count) || count < 0 || at + length > payload.length) return invalid('inconsistent header');
    // Views into the one buffer read: no copy.
    classes.push({ name, count, images: payload.subarray(at, at + length) });
    at += length;
  }
  if (at !== payload.length) return invalid('inconsistent header (payload length)');
  return { status: 'hit', data: { kind: head.kind, key: head.key, size: head.size, channels: head.channels, classes, meta: head.meta } };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface CachedLoadOptions {
  dataDir: string;
  cacheDir?: string | false;
  /** File name inside the cache directory. */
  fileName: string;
  kind: string;
  key: string;
  /** Decodes the dataset (called on a miss). */
  build: () => Promise<Omit<CachedDataset, 'kind' | 'key'>>;
}

/**
 * Returns the cached dataset if a valid cache file exists in one of the cache directories;
 * otherwise builds it and writes it to the first directory that accepts it. A cache that cannot
 * be written is not an error (the data is returned; `cache.writeError` says why).
 */
export async function loadWithDatasetCache(options: CachedLoadOptions): Promise<{ data: CachedDataset; cache: CacheInfo }> {
  const dirs = cacheDirectories(options.dataDir, options.cacheDir);
  const expected = { kind: options.kind, key: options.key };
  let reason: string | undefined;
  for (const dir of dirs) {
    const file = join(dir, options.fileName);
    const read = await readDatasetCache(file, expected);
    if (read.status === 'hit') return { data: read.data, cache: { status: 'hit', key: options.key, file } };
    if (read.status === 'invalid') reason ??= `${file}: ${read.reason}`;
  }
  const built = await options.build();
  const data: CachedDataset = { kind: options.kind, key: options.key, ...built };
  if (dirs.length === 0) return { data, cache: { status: 'disabled', key: options.key } };
  const failures: string[] = [];
  let written: string | undefined;
  for (const dir of dirs) {
    const file = join(dir, options.fileName);
    try {
      await writeDatasetCache(file, data);
      written = file;
      break;
    } catch (error) {
      failures.push(`${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const cache: CacheInfo = { status: reason ? 'rebuilt' : 'miss', key: options.key };
  if (written) cache.file = written;
  if (reason) cache.reason = reason;
  if (!written) cache.writeError = `no cache directory could be written (${failures.join('; ')})`;
  return { data, cache };
}

// ---------------------------------------------------------------------------------------------
// Folders: listing and content hashing

/**
 * Every file below `root`, as '/'-separated relative paths sorted in code-unit order. Hidden
 * files and folders (names starting with '.', e.g. .reptile-cache, .DS_Store) are skipped;
 * symbolic links are followed.
 */
export async function listFolderFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(full);
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isDir) await walk(full, rel);
      else if (isFile) out.push(rel);
    }
  };
  await walk(root, '');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Reads `paths` (relative to `root`) in order, a few at a time, handing each file's bytes to
 * `visit` in the order given.
 */
export async function forEachFile(root: string, paths: readonly string[], visit: (path: string, bytes: Uint8Array) => void, concurrency = 32): Promise<void> {
  for (let i = 0; i < paths.length; i += concurrency) {
    const batch = paths.slice(i, i + concurrency);
    const contents = await Promise.all(batch.map((p) => readFile(join(root, ...p.split('/')))));
    batch.forEach((p, k) => visit(p, new Uint8Array(contents[k].buffer, contents[k].byteOffset, contents[k].byteLength)));
  }
}

/** Updates `hash` with one file: its path, its length and its bytes (unambiguous framing). */
export function hashFileEntry(hash: ReturnType<typeof createHash>, path: string, bytes: Uint8Array): void {
  hash.update(`${path}\0${bytes.length}\0`);
  hash.update(bytes);
}
