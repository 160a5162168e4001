/**
 * Omniglot from a user's directory (Node only): `images_background.zip` and
 * `images_evaluation.zip`, or their extracted folders `images_background/` and
 * `images_evaluation/` (an archive is preferred when both exist). Decoded once by the
 * browser-safe decoder (src/data/omniglot.ts), then kept in a binary cache keyed by the SHA-256
 * of the sources' bytes, the image size and the decoder/pixel-convention versions
 * (src/io/dataset-cache.ts). A second load reads the archives only to hash them.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../data/errors.js';
import {
  decodeOmniglotArchive,
  decodeOmniglotFiles,
  mergeOmniglot,
  omniglotRoot,
  OMNIGLOT_DECODE_VERSION,
  OMNIGLOT_DEFAULT_SIZE,
  OMNIGLOT_PIXELS,
  type OmniglotData,
} from '../data/omniglot.js';
import type { ZipLimits } from '../data/zip.js';
import { CACHE_FORMAT_VERSION, forEachFile, hashFileEntry, listFolderFiles, loadWithDatasetCache, sha256Hex, type CacheInfo } from './dataset-cache.js';

export const OMNIGLOT_PARTS = ['images_background', 'images_evaluation'] as const;
export type OmniglotPart = (typeof OMNIGLOT_PARTS)[number];

export interface LoadOmniglotOptions {
  /** Image width and height (default 28). */
  size?: number;
  /** Cache directory; default `<dir>/.reptile-cache`, else the user's cache dir; false: no cache. */
  cacheDir?: string | false;
  /** Which parts to load (default both). */
  parts?: readonly OmniglotPart[];
  /** Zip limits checked before inflating (defaults: 200,000 entries, 200 MiB declared). */
  limits?: ZipLimits;
  /** Decoding progress (not called on a cache hit). */
  onProgress?: (done: number, total: number) => void;
}

export interface OmniglotSource {
  part: OmniglotPart;
  type: 'zip' | 'folder';
  path: string;
  sha256: string;
}

export interface LoadedOmniglot extends OmniglotData {
  /** Characters per part, e.g. { images_background: 964, images_evaluation: 659 }. */
  counts: Record<string, number>;
  sources: OmniglotSource[];
  cache: CacheInfo;
  /** Wall time of the load. */
  seconds: number;
}

async function kindOf(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

interface ReadSource extends OmniglotSource {
  decode: (onProgress?: (done: number, total: number) => void) => OmniglotData;
}

async function readPart(dir: string, part: OmniglotPart, options: LoadOmniglotOptions, size: number): Promise<ReadSource> {
  const zipPath = join(dir, `${part}.zip`);
  const folderPath = join(dir, part);
  if ((await kindOf(zipPath)) === 'file') {
    const bytes = await readFile(zipPath);
    const zip = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      part,
      type: 'zip',
      path: zipPath,
      sha256: sha256Hex(zip),
      decode: (onProgress) => decodeOmniglotArchive(zip, { size, source: zipPath, limits: options.limits, onProgress }),
    };
  }
  if ((await kindOf(folderPath)) === 'dir') {
    const paths = await listFolderFiles(folderPath);
    const files = new Map<string, Uint8Array>();
    const hash = createHash('sha256');
    await forEachFile(folderPath, paths, (path, bytes) => {
      hashFileEntry(hash, path, bytes);
      files.set(`${part}/${path}`, bytes);
    });
    return {
      part,
      type: 'folder',
      path: folderPath,
      sha256: hash.digest('hex'),
      decode: (onProgress) => decodeOmniglotFiles(files, { size, source: folderPath, onProgress }),
    };
  }
  throw new DatasetError(`${dir}: missing ${part}.zip (or an extracted ${part}/ folder); Omniglot needs images_background and images_evaluation`, zipPath);
}

/** The cache key: sources' contents, size, decoder and convention versions, cache format. */
export function omniglotCacheKey(sources: readonly Pick<OmniglotSource, 'part' | 'type' | 'sha256'>[], size: number): string {
  return sha256Hex(
    JSON.stringify({
      dataset: 'omniglot',
      decoder: OMNIGLOT_DECODE_VERSION,
      pixels: OMNIGLOT_PIXELS,
      format: CACHE_FORMAT_VERSION,
      size,
      sources: sources.map((s) => ({ part: s.part, type: s.type, sha256: s.sha256 })),
    }),
  );
}

/**
 * Loads Omniglot from `dir` (see the module comment): characters sorted by name, images
 * size x size bytes with strokes 255 and background 0 (OMNIGLOT_PIXELS). Errors are one-line
 * DatasetErrors naming the directory, archive or entry.
 */
export async function loadOmniglot(dir: string, options: LoadOmniglotOptions = {}): Promise<LoadedOmniglot> {
  const started = performance.now();
  const size = options.size ?? OMNIGLOT_DEFAULT_SIZE;
  if (!Number.isSafeInteger(size) || size < 1 || size > 4096) throw new RangeError(`Omniglot image size must be an integer in 1..4096, got ${size}`);
  const parts = options.parts ?? OMNIGLOT_PARTS;
  if (parts.length === 0 || parts.some((p) => !OMNIGLOT_PARTS.includes(p))) {
    throw new RangeError(`parts must be a non-empty list of ${OMNIGLOT_PARTS.join(', ')}`);
  }
  if ((await kindOf(dir)) !== 'dir') {
    throw new DatasetError(`${dir}: no such directory; it should hold images_background.zip and images_evaluation.zip (or their extracted folders)`, dir);
  }
  const sources = await Promise.all(parts.map((part) => readPart(dir, part, options, size)));
  const key = omniglotCacheKey(sources, size);
  const { data, cache } = await loadWithDatasetCache({
    dataDir: dir,
    cacheDir: options.cacheDir,
    fileName: `omniglot-${size}px-${key.slice(0, 16)}.bin`,
    kind: 'omniglot',
    key,
    build: async () => {
      const decoded: OmniglotData[] = [];
      let offset = 0;
      for (const source of sources) {
        const before = offset;
        const report = options.onProgress;
        // Progress counts drawings over all parts; a part's total is known once it is listed.
        const result = source.decode(report && ((done, total) => report(before + done, before + total)));
        for (const c of result.characters) {
          if (omniglotRoot(c.name) !== source.part) {
            throw new DatasetError(`${source.path}: holds ${c.name}, expected everything under ${source.part}/`, source.path);
          }
        }
        offset += result.characters.reduce((n, c) => n + c.count, 0);
        decoded.push(result);
      }
      const merged = mergeOmniglot(decoded);
      return {
        size: merged.size,
        channels: 1,
        classes: merged.characters,
        meta: { pixels: OMNIGLOT_PIXELS, sources: sources.map(({ part, type, sha256 }) => ({ part, type, sha256 })) },
      };
    },
  });
  const counts: Record<string, number> = {};
  for (const c of data.classes) counts[omniglotRoot(c.name)] = (counts[omniglotRoot(c.name)] ?? 0) + 1;
  return {
    size: data.size,
    characters: data.classes,
    counts,
    sources: sources.map(({ part, type, path, sha256 }) => ({ part, type, path, sha256 })),
    cache,
    seconds: (performance.now() - started) / 1000,
  };
}
