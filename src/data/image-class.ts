/**
 * Image classes as the few-shot episode sampler sees them: a class is a name, a number of images
 * and a way to write image i as floats. Images are stored once as bytes (0..255, channels last)
 * and converted on the fly to value / 255, rotated by a multiple of 90 degrees if the class is a
 * rotation-augmented copy (exact: a permutation of pixels, no interpolation).
 */
import { DatasetError } from './errors.js';

/** Degrees counter-clockwise (as numpy's rot90 and PIL's Image.rotate). */
export type Rotation = 0 | 90 | 180 | 270;
export const ROTATIONS: readonly Rotation[] = [0, 90, 180, 270];

export interface ImageClass {
  readonly name: string;
  readonly count: number;
  /** Writes image i as size*size*channels floats value/255 (channels last, rotated) at out[offset..]. */
  image(i: number, out: Float32Array, offset: number): void;
}

export interface ImageClassSet {
  /** Images are size x size. */
  readonly size: number;
  /** 1 (grey) or 3 (RGB), channels last. */
  readonly channels: number;
  classes: ImageClass[];
}

/** A class's images as stored: `count` images of size*size*channels bytes, one after another. */
export interface StoredClass {
  name: string;
  count: number;
  images: Uint8Array;
}

/** value / 255 as float32, for every byte. */
const UNIT = new Float32Array(256).map((_, v) => v / 255);

/** The name of a rotated copy: `<name>@rot90` (0 keeps the name). */
export function rotatedName(name: string, rotation: Rotation): string {
  return rotation === 0 ? name : `${name}@rot${rotation}`;
}

/** An ImageClass over stored bytes, optionally rotated. */
export class StoredImageClass implements ImageClass {
  readonly name: string;
  readonly count: number;
  private readonly imageBytes: number;

  constructor(
    readonly stored: StoredClass,
    readonly size: number,
    readonly channels: number,
    readonly rotation: Rotation = 0,
  ) {
    if (!ROTATIONS.includes(rotation)) throw new RangeError(`rotation must be 0, 90, 180 or 270, got ${rotation}`);
    this.imageBytes = size * size * channels;
    if (stored.images.length !== stored.count * this.imageBytes) {
      throw new DatasetError(`${stored.name}: holds ${stored.images.length} bytes, not ${stored.count} images of ${size}x${size}x${channels}`, stored.name);
    }
    this.name = rotatedName(stored.name, rotation);
    this.count = stored.count;
  }

  image(i: number, out: Float32Array, offset: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`${this.name}: image ${i} out of range 0..${this.count - 1}`);
    const n = this.imageBytes;
    if (!Number.isInteger(offset) || offset < 0 || offset + n > out.length) {
      throw new RangeError(`${this.name}: ${n} floats do not fit at offset ${offset} of ${out.length}`);
    }
    writeRotated(this.stored.images, i * n, this.size, this.channels, this.rotation, out, offset);
  }
}

/**
 * Writes the size x size x channels image at src[from..] rotated counter-clockwise by `rotation`
 * into out[offset..] as value / 255. For output pixel (r, c) the source pixel is:
 * 0: (r, c); 90: (c, s-1-r); 180: (s-1-r, s-1-c); 270: (s-1-c, r), with s = size.
 */
export function writeRotated(
  src: Uint8Array,
  from: number,
  size: number,
  channels: number,
  rotation: Rotation,
  out: Float32Array,
  offset: number,
): void {
  const n = size * size * channels;
  if (rotation === 0) {
    for (let k = 0; k < n; k++) out[offset + k] = UNIT[src[from + k]];
    return;
  }
  const map = rotationMap(size, channels, rotation);
  for (let k = 0; k < n; k++) out[offset + k] = UNIT[src[from + map[k]]];
}

const rotationMaps = new Map<string, Int32Array>();

/** For each output value of a rotated image, the offset of its source byte (built once per shape). */
function rotationMap(size: number, channels: number, rotation: Rotation): Int32Array {
  const key = `${size}/${channels}/${rotation}`;
  let map = rotationMaps.get(key);
  if (map) return map;
  const s1 = size - 1;
  map = new Int32Array(size * size * channels);
  let k = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      let sr: number;
      let sc: number;
      if (rotation === 90) (sr = c), (sc = s1 - r);
      else if (rotation === 180) (sr = s1 - r), (sc = s1 - c);
      else (sr = s1 - c), (sc = r);
      for (let ch = 0; ch < channels; ch++) map[k++] = (sr * size + sc) * channels + ch;
    }
  }
  rotationMaps.set(key, map);
  return map;
}

/** An ImageClassSet over stored classes, each once per rotation in `rotations` (default [0]). */
export function storedClassSet(
  classes: readonly StoredClass[],
  size: number,
  channels: number,
  rotations: readonly Rotation[] = [0],
): ImageClassSet {
  const out: ImageClass[] = [];
  for (const stored of classes) for (const rotation of rotations) out.push(new StoredImageClass(stored, size, channels, rotation));
  return { size, channels, classes: out };
}
