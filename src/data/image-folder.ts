/**
 * Generic image-folder datasets, browser-safe: `<root>/<split>/<class>/<image>` with PNG or
 * JPEG images (the format is read from the bytes), e.g. Mini-ImageNet's
 * `train|val|test/<wnid>/*.jpg` (84x84) as is.
 *
 * Every image is decoded and preprocessed by ./image.ts: 'grey' (luminance) or 'rgb', resized to
 * size x size with the exact area-average filter, stored as bytes 0..255 channels last (HWC); a
 * model receives value / 255. Nothing is inverted unless `invert` is set (Omniglot-style data
 * with dark strokes on a light background may want it).
 *
 * Classes are named `<split>/<class>` and sorted by name, images by file name (code-unit order).
 * Hidden files and folders (starting with '.') and `__MACOSX/` are skipped, and so are files
 * directly under the root (a README, a CSV); anything else off the layout is an error.
 */
import { DatasetError, messageOf } from './errors.js';
import { preprocessImage, type ChannelMode, DEFAULT_MAX_PIXELS } from './image.js';
import { ROTATIONS, storedClassSet, type ImageClassSet, type Rotation, type StoredClass } from './image-class.js';
import { checkRelativePath, readZip, type ZipLimits } from './zip.js';

export const IMAGE_FOLDER_DECODE_VERSION = 1;
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export interface ImageFolderOptions {
  /** Output width and height (default 84, Mini-ImageNet's). */
  size?: number;
  /** 'rgb' (default) or 'grey'. */
  channels?: ChannelMode;
  /** 255 - v (default false). */
  invert?: boolean;
  /** Largest source image, in pixels (default 50 megapixels). */
  maxPixels?: number;
  /** Names the folder or archive in error messages. */
  source?: string;
}

export interface ImageFolderData {
  size: number;
  /** 1 (grey) or 3 (rgb). */
  channels: number;
  /** Split name -> its classes (named `<split>/<class>`), sorted by name. */
  splits: Record<string, StoredClass[]>;
}

export interface ImageFolderPath {
  split: string;
  className: string;
  file: string;
}

const LAYOUT = '<split>/<class>/<image>.(png|jpg|jpeg)';

export function resolvedImageFolderOptions(options: ImageFolderOptions): Required<Omit<ImageFolderOptions, 'source'>> {
  const size = options.size ?? 84;
  const channels = options.channels ?? 'rgb';
  if (!Number.isSafeInteger(size) || size < 1 || size > 4096) throw new RangeError(`image size must be an integer in 1..4096, got ${size}`);
  if (channels !== 'grey' && channels !== 'rgb') throw new RangeError(`channels must be 'grey' or 'rgb', got '${String(channels)}'`);
  return { size, channels, invert: options.invert ?? false, maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS };
}

/**
 * Where a relative path ('/'-separated, below the root) belongs: its split, class and file, or
 * undefined for a skipped file. Throws for a path off the layout.
 */
export function parseImageFolderPath(path: string, source: string): ImageFolderPath | undefined {
  checkRelativePath(path, source);
  if (path.endsWith('/')) return undefined;
  const parts = path.split('/');
  if (parts[0] === '__MACOSX' || parts.some((p) => p.startsWith('.'))) return undefined;
  if (parts.length === 1) return undefined;
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new DatasetError(`${source}: unexpected file "${path}"; the layout is ${LAYOUT}`, source);
  }
  const file = parts[2];
  const dot = file.lastIndexOf('.');
  if (dot < 0 || !IMAGE_EXTENSIONS.includes(file.slice(dot).toLowerCase())) {
    throw new DatasetError(`${source}: "${path}" is not an image; allowed extensions: ${IMAGE_EXTENSIONS.join(', ')}`, source);
  }
  return { split: parts[0], className: parts[1], file };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Accumulates decoded images, one file at a time (so a loader never holds all files' bytes). */
export class ImageFolderBuilder {
  readonly size: number;
  readonly channels: number;
  private readonly options: Required<Omit<ImageFolderOptions, 'source'>>;
  private readonly source: string;
  private readonly classes = new Map<string, { split: string; images: { file: string; pixels: Uint8Array }[] }>();

  constructor(options: ImageFolderOptions = {}) {
    this.options = resolvedImageFolderOptions(options);
    this.source = options.source ?? 'folder';
    this.size = this.options.size;
    this.channels = this.options.channels === 'rgb' ? 3 : 1;
  }

  /** Adds the file at `path` (relative to the root); skipped files are ignored. */
  add(path: string, bytes: Uint8Array): void {
    const where = parseImageFolderPath(path, this.source);
    if (!where) return;
    const pixels = preprocessImage(bytes, `${this.source}: ${path}`, this.options);
    const name = `${where.split}/${where.className}`;
    let entry = this.classes.get(name);
    if (!entry) this.classes.set(name, (entry = { split: where.split, images: [] }));
    entry.images.push({ file: where.file, pixels });
  }

  finish(): ImageFolderData {
    if (this.classes.size === 0) throw new DatasetError(`${this.source}: no images found; the layout is ${LAYOUT}`, this.source);
    const imageBytes = this.size * this.size * this.channels;
    const splits: Record<string, StoredClass[]> = {};
    for (const name of [...this.classes.keys()].sort(byCodeUnits)) {
      const entry = this.classes.get(name)!;
      const list = entry.images.sort((a, b) => byCodeUnits(a.file, b.file));
      const images = new Uint8Array(list.length * imageBytes);
      list.forEach((image, i) => images.set(image.pixels, i * imageBytes));
      this.classes.delete(name);
      (splits[entry.split] ??= []).push({ name, count: list.length, images });
    }
    return { size: this.size, channels: this.channels, splits };
  }
}

/** Decodes an image folder given as (relative path, bytes) pairs (a Map works). */
export function decodeImageFolderFiles(files: Iterable<readonly [string, Uint8Array]>, options: ImageFolderOptions = {}): ImageFolderData {
  const builder = new ImageFolderBuilder(options);
  for (const [path, bytes] of files) builder.add(path, bytes);
  return builder.finish();
}

/**
 * Decodes a zip of an image folder; entries are `<split>/<class>/<image>`, or the same below a
 * single top folder (`mini-imagenet/train/...`), which is then stripped.
 */
export function decodeImageFolderArchive(zip: Uint8Array, options: ImageFolderOptions & { limits?: ZipLimits } = {}): ImageFolderData {
  const source = options.source ?? 'archive';
  const entries = readZip(zip, source, options.limits).filter((e) => !e.directory);
  const visible = entries.filter((e) => !e.name.startsWith('__MACOSX/') && !e.name.split('/').some((p) => p.startsWith('.')));
  const tops = new Set(visible.map((e) => e.name.split('/')[0]));
  const strip = tops.size === 1 && visible.every((e) => e.name.split('/').length === 4);
  const builder = new ImageFolderBuilder({ ...options, source });
  for (const entry of visible) {
    const path = strip ? entry.name.slice(entry.name.indexOf('/') + 1) : entry.name;
    let bytes: Uint8Array;
    try {
      bytes = entry.data();
    } catch (error) {
      if (error instanceof DatasetError) throw error;
      throw new DatasetError(`${source}: "${entry.name}" cannot be read (${messageOf(error)})`, source);
    }
    builder.add(path, bytes);
  }
  return builder.finish();
}

export interface ImageFolderClassSetOptions {
  /** Add each class rotated by 90/180/270 degrees as separate classes (default false). */
  augment?: boolean;
}

/** The ImageClassSet of one split (e.g. 'train'); an unknown split is an error listing the known ones. */
export function imageFolderClassSet(data: ImageFolderData, split: string, options: ImageFolderClassSetOptions = {}): ImageClassSet {
  const classes = data.splits[split];
  if (!classes) {
    throw new DatasetError(`no split '${split}' in the image folder; found: ${Object.keys(data.splits).sort().join(', ') || 'none'}`);
  }
  const rotations: readonly Rotation[] = options.augment ? ROTATIONS : [0];
  return storedClassSet(classes, data.size, data.channels, rotations);
}
