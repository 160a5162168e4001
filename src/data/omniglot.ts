/**
 * Omniglot (Lake et al. 2015) from its archives or extracted folders, browser-safe.
 *
 * Layout: `<root>/<alphabet>/<character>/<drawing>.png`, e.g.
 * `images_background/Alphabet_of_the_Magi/character01/0709_01.png`; a character is named
 * `<root>/<alphabet>/<character>`. Characters are sorted by name and drawings by file name, in
 * UTF-16 code-unit order (not locale order), so the result is the same everywhere.
 * Hidden files (a path segment starting with '.') and macOS's `__MACOSX/` folder are skipped;
 * anything else off the layout is an error naming the entry.
 *
 * Pixel convention (OMNIGLOT_PIXELS): strokes = 255, background = 0, i.e. INVERTED from the
 * PNGs, which are black strokes on white. With the PNGs' own convention (background 1) the
 * article's MLP (784-64-64-5, no normalisation) collapses to chance; inverted, it learns
 * (FINDINGS.md, "Omniglot pixel convention"). Each drawing is converted to luminance, inverted,
 * and resized to size x size (default 28) with the exact area-average filter of ./image.ts, so a
 * 105 -> 28 resize gives grey levels at stroke edges (the original code's PIL resize of 1-bit
 * images was nearest-neighbour, 0/1 only; FINDINGS: the CNN's accuracy is the same either way).
 * Stored as Uint8Array 0..255 (count*size*size per character); a model receives value / 255.
 */
import { DatasetError, messageOf } from './errors.js';
import { preprocessPixels, decodePngImage, DEFAULT_MAX_PIXELS, type PreprocessOptions } from './image.js';
import type { StoredClass } from './image-class.js';
import { readZip, checkRelativePath, type ZipLimits } from './zip.js';

/** The pixel convention, recorded with cached data and run metadata. */
export const OMNIGLOT_PIXELS = 'strokes=255,background=0';
/** Bumped whenever decoding or preprocessing changes what an image becomes (invalidates caches). */
export const OMNIGLOT_DECODE_VERSION = 1;
export const OMNIGLOT_DEFAULT_SIZE = 28;

/** A character: `count` drawings of size*size bytes (0..255, strokes high), one after another. */
export type OmniglotCharacter = StoredClass;

export interface OmniglotData {
  size: number;
  /** Sorted by name. */
  characters: OmniglotCharacter[];
}

export interface OmniglotDecodeOptions {
  /** Output width and height (default 28). */
  size?: number;
  /** Names the archive or folder in error messages (default 'archive' / 'folder'). */
  source?: string;
  /** Zip limits (entries, declared bytes), checked before inflating. */
  limits?: ZipLimits;
  /** Called after each decoded drawing. */
  onProgress?: (done: number, total: number) => void;
}

/** What every Omniglot drawing goes through: luminance, inverted, area-resized to size x size (see the module comment). */
export function omniglotPreprocessing(size = OMNIGLOT_DEFAULT_SIZE): PreprocessOptions {
  return { size, channels: 'grey', invert: true };
}

/** One drawing, as a PNG file, to one size x size image (see the module comment). */
export function omniglotPixels(png: Uint8Array, name: string, size = OMNIGLOT_DEFAULT_SIZE): Uint8Array {
  return preprocessPixels(decodePngImage(png, name, DEFAULT_MAX_PIXELS), omniglotPreprocessing(size));
}

interface Drawing {
  file: string;
  path: string;
  bytes: () => Uint8Array;
}

const LAYOUT = '<root>/<alphabet>/<character>/<drawing>.png';

/** Skipped entries: folders, hidden files and macOS resource forks. */
function ignored(path: string): boolean {
  if (path.endsWith('/')) return true;
  const parts = path.split('/');
  return parts[0] === '__MACOSX' || parts.some((p) => p.startsWith('.'));
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1 || size > 4096) throw new RangeError(`Omniglot image size must be an integer in 1..4096, got ${size}`);
}

/** Groups drawings by character after checking every path against the layout (nothing decoded yet). */
function collect(entries: Iterable<{ path: string; bytes: () => Uint8Array }>, source: string): Map<string, Drawing[]> {
  const characters = new Map<string, Drawing[]>();
  for (const { path, bytes } of entries) {
    checkRelativePath(path, source);
    if (ignored(path)) continue;
    const parts = path.split('/');
    if (parts.length !== 4 || parts.some((p) => p === '') || !/\.png$/i.test(parts[3])) {
      throw new DatasetError(`${source}: unexpected entry "${path}"; Omniglot's layout is ${LAYOUT}`, source);
    }
    const name = parts.slice(0, 3).join('/');
    let list = characters.get(name);
    if (!list) characters.set(name, (list = []));
    list.push({ file: parts[3], path, bytes });
  }
  if (characters.size === 0) throw new DatasetError(`${source}: no drawings found; Omniglot's layout is ${LAYOUT}`, source);
  return characters;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function decodeCharacters(characters: Map<string, Drawing[]>, source: string, options: OmniglotDecodeOptions): OmniglotData {
  const size = options.size ?? OMNIGLOT_DEFAULT_SIZE;
  checkSize(size);
  const names = [...characters.keys()].sort(byCodeUnits);
  const total = names.reduce((n, name) => n + characters.get(name)!.length, 0);
  const imageBytes = size * size;
  let done = 0;
  const out: OmniglotCharacter[] = names.map((name) => {
    const drawings = characters.get(name)!.sort((a, b) => byCodeUnits(a.file, b.file));
    const images = new Uint8Array(drawings.length * imageBytes);
    drawings.forEach((drawing, i) => {
      const where = `${source}: ${drawing.path}`;
      let bytes: Uint8Array;
      try {
        bytes = drawing.bytes();
      } catch (error) {
        if (error instanceof DatasetError) throw error;
        throw new DatasetError(`${where}: cannot be read (${messageOf(error)})`, source);
      }
      images.set(omniglotPixels(bytes, where, size), i * imageBytes);
      options.onProgress?.(++done, total);
    });
    return { name, count: drawings.length, images };
  });
  return { size, characters: out };
}

/**
 * Decodes an Omniglot zip (`images_background.zip`, `images_evaluation.zip`, or one holding
 * both roots). The archive is checked (entry count, declared size, paths, layout) before
 * anything is inflated; errors are one-line DatasetErrors naming the archive and entry.
 */
export function decodeOmniglotArchive(zip: Uint8Array, options: OmniglotDecodeOptions = {}): OmniglotData {
  const source = options.source ?? 'archive';
  checkSize(options.size ?? OMNIGLOT_DEFAULT_SIZE);
  const entries = readZip(zip, source, options.limits);
  const characters = collect(
    entries.filter((e) => !e.directory).map((e) => ({ path: e.name, bytes: () => e.data() })),
    source,
  );
  return decodeCharacters(characters, source, options);
}

/**
 * Decodes an extracted Omniglot folder given as (relative path, bytes) pairs (a Map works), with
 * '/'-separated paths that include the root, e.g. `images_background/Latin/character01/x.png`.
 */
export function decodeOmniglotFiles(
  files: Iterable<readonly [string, Uint8Array]>,
  options: OmniglotDecodeOptions = {},
): OmniglotData {
  const source = options.source ?? 'folder';
  checkSize(options.size ?? OMNIGLOT_DEFAULT_SIZE);
  const entries: { path: string; bytes: () => Uint8Array }[] = [];
  for (const [path, data] of files) entries.push({ path, bytes: () => data });
  return decodeCharacters(collect(entries, source), source, options);
}

/** Merges decoded parts (both archives) into one set sorted by name; duplicates are refused. */
export function mergeOmniglot(parts: readonly OmniglotData[]): OmniglotData {
  if (parts.length === 0) throw new RangeError('mergeOmniglot needs at least one part');
  const size = parts[0].size;
  if (parts.some((p) => p.size !== size)) throw new RangeError(`cannot merge Omniglot parts of different sizes (${parts.map((p) => p.size).join(', ')})`);
  const characters = parts.flatMap((p) => p.characters).sort((a, b) => byCodeUnits(a.name, b.name));
  for (let i = 1; i < characters.length; i++) {
    if (characters[i].name === characters[i - 1].name) throw new DatasetError(`character ${characters[i].name} appears twice; the two archives overlap`, characters[i].name);
  }
  return { size, characters };
}

/** The root (first path segment) of a character name: `images_background` or `images_evaluation`. */
export function omniglotRoot(name: string): string {
  return name.slice(0, name.indexOf('/'));
}
