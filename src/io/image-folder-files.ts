/**
 * Image-folder datasets from disk (Node only): `<root>/<split>/<class>/<image>` with PNG or JPEG
 * images, e.g. Mini-ImageNet's `train|val|test/<wnid>/*.jpg` as is. Decoding and preprocessing
 * are the browser-safe ones of src/data/image-folder.ts (grey or RGB, area resize, optional
 * inversion, bytes channels last). The decoded set is cached like Omniglot's
 * (src/io/dataset-cache.ts), keyed by the SHA-256 of the file list and contents and the options.
 * Files are read one batch at a time, so the source images are never all in memory.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { DatasetError } from '../data/errors.js';
import {
  IMAGE_FOLDER_DECODE_VERSION,
  ImageFolderBuilder,
  parseImageFolderPath,
  resolvedImageFolderOptions,
  type ImageFolderData,
  type ImageFolderOptions,
} from '../data/image-folder.js';
import type { StoredClass } from '../data/image-class.js';
import { CACHE_FORMAT_VERSION, forEachFile, hashFileEntry, listFolderFiles, loadWithDatasetCache, sha256Hex, type CacheInfo } from './dataset-cache.js';

export interface LoadImageFolderOptions extends Omit<ImageFolderOptions, 'source'> {
  /** Cache directory; default `<root>/.reptile-cache`, else the user's cache dir; false: no cache. */
  cacheDir?: string | false;
  /** Decoding progress (not called on a cache hit). */
  onProgress?: (done: number, total: number) => void;
}

export interface LoadedImageFolder extends ImageFolderData {
  cache: CacheInfo;
  /** Images per split. */
  counts: Record<string, number>;
  seconds: number;
}

/**
 * Loads `<root>/<split>/<class>/<image>` (see the module comment). Errors are one-line
 * DatasetErrors naming the folder or file.
 */
export async function loadImageFolder(root: string, options: LoadImageFolderOptions = {}): Promise<LoadedImageFolder> {
  const started = performance.now();
  const resolved = resolvedImageFolderOptions(options);
  let isDir = false;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new DatasetError(`${root}: no such directory; expected <split>/<class>/<image> below it`, root);

  const all = await listFolderFiles(root);
  // Check the layout before reading anything; only the files that belong are hashed and read.
  const paths = all.filter((p) => parseImageFolderPath(p, root) !== undefined);
  if (paths.length === 0) throw new DatasetError(`${root}: no images found; expected <split>/<class>/<image>.(png|jpg|jpeg)`, root);
  const hash = createHash('sha256');
  await forEachFile(root, paths, (path, bytes) => hashFileEntry(hash, path, bytes));
  const key = sha256Hex(
    JSON.stringify({
      dataset: 'image-folder',
      decoder: IMAGE_FOLDER_DECODE_VERSION,
      format: CACHE_FORMAT_VERSION,
      size: resolved.size,
      channels: resolved.channels,
      invert: resolved.invert,
      files: hash.digest('hex'),
    }),
  );
  const channels = resolved.channels === 'rgb' ? 3 : 1;
  const { data, cache } = await loadWithDatasetCache({
    dataDir: root,
    cacheDir: options.cacheDir,
    fileName: `image-folder-${resolved.size}px-${resolved.channels}${resolved.invert ? '-inverted' : ''}-${key.slice(0, 16)}.bin`,
    kind: 'image-folder',
    key,
    build: async () => {
      const builder = new ImageFolderBuilder({ ...resolved, source: root });
      let done = 0;
      await forEachFile(root, paths, (path, bytes) => {
        builder.add(path, bytes);
        options.onProgress?.(++done, paths.length);
      });
      const built = builder.finish();
      const classes = Object.keys(built.splits)
        .sort()
        .flatMap((split) => built.splits[split]);
      return { size: built.size, channels: built.channels, classes, meta: { invert: resolved.invert, channels: resolved.channels } };
    },
  });
  if (data.channels !== channels) throw new DatasetError(`${root}: cache holds ${data.channels} channels, expected ${channels}`, root);
  const splits: Record<string, StoredClass[]> = {};
  const counts: Record<string, number> = {};
  for (const c of data.classes) {
    const split = c.name.slice(0, c.name.indexOf('/'));
    (splits[split] ??= []).push(c);
    counts[split] = (counts[split] ?? 0) + c.count;
  }
  return { size: data.size, channels: data.channels, splits, counts, cache, seconds: (performance.now() - started) / 1000 };
}
