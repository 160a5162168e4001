/**
 * Image decoding and preprocessing, browser-safe (pure JavaScript: fast-png and jpeg-js, no
 * canvas, fs or Buffer), so that Node and a browser demo turn the same bytes into exactly the
 * same pixels.
 *
 * Preprocessing (`preprocessPixels`):
 * - channels: 'grey' takes the luminance L = (299 R + 587 G + 114 B) / 1000 (ITU-R BT.601, as
 *   PIL's convert('L')); 'rgb' keeps three channels (a grey image is replicated). Alpha is
 *   ignored (dropped, not composited).
 * - invert (optional): v -> 255 - v. Omniglot uses it (see ./omniglot.ts); generic image folders
 *   do not by default.
 * - resize to size x size (stretched, no crop) with an area-average (box) filter: every output
 *   pixel is the mean of the source area it covers, each source pixel weighted by the exact
 *   fraction of it inside that area. Written by hand rather than taken from a canvas or an image
 *   library because (1) the result must be identical in Node and in every browser (canvas
 *   smoothing is implementation-defined), and (2) Omniglot's 105 -> 28 is a non-integer ratio
 *   (3.75 source pixels per output pixel), where a naive box filter that drops or rounds partial
 *   pixels is biased. With the source pixel i spanning [i*out, (i+1)*out) and the output pixel o
 *   spanning [o*in, (o+1)*in) (both scaled by in*out), every overlap is an integer, so the whole
 *   sum is computed exactly in integers and divided once: the result is the true area average,
 *   rounded half up to 0..255, bit-identical on every platform.
 * - storage: Uint8Array 0..255, channels last (HWC); a model receives value / 255.
 */
import jpeg from 'jpeg-js';
import { DatasetError, messageOf } from './errors.js';
import { decodePngSamples, hasPngSignature, type PngSamples } from './png.js';

export type ChannelMode = 'grey' | 'rgb';

/** Interleaved 8-bit samples, row-major; 2 and 4 channels carry alpha (as canvas ImageData: 4). */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: ArrayLike<number>;
}

/** A decoded image: 8-bit grey or RGB samples (palette expanded, 16-bit scaled, alpha dropped). */
export interface DecodedImage extends Pixels {
  channels: 1 | 3;
  data: Uint8Array;
}

export interface PreprocessOptions {
  /** Output width and height. */
  size: number;
  channels: ChannelMode;
  /** 255 - v (default false). */
  invert?: boolean;
}

export interface DecodeOptions {
  /** Largest width * height accepted (default 50 megapixels), checked before decoding. */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;

export type ImageFormat = 'png' | 'jpeg';

/** The format from the first bytes (not the file name), or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (hasPngSignature(bytes)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

function checkPixels(width: number, height: number, name: string, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new DatasetError(`${name}: ${width}x${height} image is larger than the ${maxPixels} pixels allowed`, name);
  }
}

/** Decodes a PNG (any bit depth or colour type) or a baseline/progressive JPEG. */
export function decodeImage(bytes: Uint8Array, name: string, options: DecodeOptions = {}): DecodedImage {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const format = sniffImageFormat(bytes);
  if (format === 'png') return decodePngImage(bytes, name, maxPixels);
  if (format === 'jpeg') return decodeJpegImage(bytes, name, maxPixels);
  throw new DatasetError(`${name}: not a PNG or JPEG file (${bytes.length === 0 ? 'empty' : 'unrecognised signature'})`, name);
}

export function decodePngImage(bytes: Uint8Array, name: string, maxPixels = DEFAULT_MAX_PIXELS): DecodedImage {
  return pngSamplesToImage(decodePngSamples(bytes, name, maxPixels), name);
}

/** 8-bit grey or RGB from PNG samples: palette expanded, low depths and 16 bits scaled, alpha dropped. */
export function pngSamplesToImage(png: PngSamples, name: string): DecodedImage {
  const { width, height, depth, channels: inChannels, data: samples, palette } = png;
  const pixels = width * height;
  if (palette) {
    const out = new Uint8Array(pixels * 3);
    for (let p = 0; p < pixels; p++) {
      const entry = palette[samples[p]];
      if (!entry) throw new DatasetError(`${name}: corrupt PNG (palette index ${samples[p]} out of range)`, name);
      out[3 * p] = entry[0];
      out[3 * p + 1] = entry[1];
      out[3 * p + 2] = entry[2];
    }
    return { width, height, channels: 3, data: out };
  }
  const channels = inChannels >= 3 ? 3 : 1;
  if (depth === 8 && inChannels === channels && samples instanceof Uint8Array) return { width, height, channels, data: samples };
  const out = new Uint8Array(pixels * channels);
  if (depth === 16) {
    for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = Math.round(samples[p * inChannels + c] / 257);
  } else {
    // x255, x85, x17 for depths 1, 2, 4: exact.
    const factor = 255 / ((1 << depth) - 1);
    if (inChannels === channels) for (let i = 0; i < out.length; i++) out[i] = samples[i] * factor;
    else for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = samples[p * inChannels + c] * factor;
  }
  return { width, height, channels, data: out };
}

export function decodeJpegImage(bytes: Uint8Array, name: string, maxPixels = DEFAULT_MAX_PIXELS): DecodedImage {
  if (sniffImageFormat(bytes) !== 'jpeg') throw new DatasetError(`${name}: not a JPEG file (bad signature)`, name);
  // A complete JPEG ends with the EOI marker (some writers pad a few bytes after it).
  let eoi = false;
  for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 64); i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
      eoi = true;
      break;
    }
  }
  if (!eoi) throw new DatasetError(`${name}: truncated JPEG (no end-of-image marker)`, name);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 8) / 2 ** 20)),
    });
  } catch (error) {
    throw new DatasetError(`${name}: corrupt JPEG (${messageOf(error)})`, name);
  }
  checkPixels(image.width, image.height, name, maxPixels);
  if (image.data.length !== image.width * image.height * 3) throw new DatasetError(`${name}: corrupt JPEG (wrong amount of pixel data)`, name);
  return { width: image.width, height: image.height, channels: 3, data: image.data };
}

/**
 * Integer weights of the exact area-average filter along one axis (see the module comment):
 * output o takes `count[o]` source pixels from `first[o]`, with weights
 * `weights[offset[o] ..]`, which sum to `inSize`.
 */
export interface AreaWeights {
  first: Int32Array;
  count: Int32Array;
  offset: Int32Array;
  weights: Float64Array;
}

const weightCache = new Map<string, AreaWeights>();

export function areaWeights(inSize: number, outSize: number): AreaWeights {
  const key = `${inSize}>${outSize}`;
  const cached = weightCache.get(key);
  if (cached) return cached;
  if (!Number.isSafeInteger(inSize) || inSize < 1 || !Number.isSafeInteger(outSize) || outSize < 1) {
    throw new RangeError(`area resize needs positive integer sizes, got ${inSize} -> ${outSize}`);
  }
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const offset = new Int32Array(outSize);
  const weights: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const lo = o * inSize;
    const hi = (o + 1) * inSize;
    const start = Math.floor(lo / outSize);
    first[o] = start;
    offset[o] = weights.length;
    for (let i = start; i * outSize < hi; i++) {
      // Positive: pixel `start` contains lo, and every later pixel starts before hi.
      weights.push(Math.min((i + 1) * outSize, hi) - Math.max(i * outSize, lo));
    }
    count[o] = weights.length - offset[o];
  }
  const result = { first, count, offset, weights: Float64Array.from(weights) };
  if (weightCache.size > 64) weightCache.clear();
  weightCache.set(key, result);
  return result;
}

// Scratch buffers reused across images (JavaScript is single-threaded; nothing here re-enters).
let planeScratch = new Int32Array(0);
let rowScratch = new Float64Array(0);

function plane(length: number): Int32Array {
  if (planeScratch.length < length) planeScratch = new Int32Array(Math.max(length, 2 * planeScratch.length));
  return planeScratch;
}

/**
 * Area-average resize of integer samples (`channels` interleaved, each scaled by `scale`, i.e.
 * in 0..255*scale) to outWidth x outHeight, rounded half up to 0..255.
 */
export function resizeArea(
  source: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  scale = 1,
): Uint8Array {
  if (source.length < width * height * channels) throw new RangeError(`resizeArea: ${source.length} samples, fewer than ${width}x${height}x${channels}`);
  const typed = source instanceof Int32Array ? source : Int32Array.from(source);
  return resizePlane(typed, width, height, channels, outWidth, outHeight, scale);
}

function resizePlane(
  source: Int32Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  scale: number,
): Uint8Array {
  const xs = areaWeights(width, outWidth);
  const ys = areaWeights(height, outHeight);
  const rowStride = outWidth * channels;
  // Horizontal pass: exact integers (at most 255 * scale * width).
  if (rowScratch.length < height * rowStride) rowScratch = new Float64Array(Math.max(height * rowStride, 2 * rowScratch.length));
  const rows = rowScratch;
  const xw = xs.weights;
  for (let y = 0; y < height; y++) {
    const inRow = y * width * channels;
    const outRow = y * rowStride;
    for (let o = 0; o < outWidth; o++) {
      const n = xs.count[o];
      const w0 = xs.offset[o];
      const s0 = inRow + xs.first[o] * channels;
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += xw[w0 + k] * source[s0 + k * channels + c];
        rows[outRow + o * channels + c] = sum;
      }
    }
  }
  // Vertical pass, then one division by the total weight.
  const divisor = width * height * scale;
  const out = new Uint8Array(outHeight * rowStride);
  const yw = ys.weights;
  for (let o = 0; o < outHeight; o++) {
    const n = ys.count[o];
    const w0 = ys.offset[o];
    const r0 = ys.first[o] * rowStride;
    for (let j = 0; j < rowStride; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += yw[w0 + k] * rows[r0 + k * rowStride + j];
      const v = Math.round(sum / divisor);
      out[o * rowStride + j] = v > 255 ? 255 : v < 0 ? 0 : v;
    }
  }
  return out;
}

/** Channel conversion, optional inversion and area resize (see the module comment). */
export function preprocessPixels(pixels: Pixels, options: PreprocessOptions): Uint8Array {
  const { width, height, channels: inChannels, data } = pixels;
  const size = options.size;
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  if (![1, 2, 3, 4].includes(inChannels)) throw new RangeError(`pixels must have 1 to 4 channels, got ${inChannels}`);
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) throw new RangeError(`pixels must be at least 1x1, got ${width}x${height}`);
  if (data.length < width * height * inChannels) throw new RangeError(`pixels hold ${data.length} samples, fewer than ${width}x${height}x${inChannels}`);
  const n = width * height;
  const colour = inChannels >= 3;
  const invert = options.invert === true;
  if (options.channels === 'grey') {
    // Luminance times 1000 keeps it an exact integer.
    const scale = colour ? 1000 : 1;
    const p = plane(n);
    if (colour) {
      for (let i = 0, at = 0; i < n; i++, at += inChannels) p[i] = 299 * data[at] + 587 * data[at + 1] + 114 * data[at + 2];
    } else {
      for (let i = 0, at = 0; i < n; i++, at += inChannels) p[i] = data[at];
    }
    if (invert) for (let i = 0; i < n; i++) p[i] = 255 * scale - p[i];
    return resizePlane(p, width, height, 1, size, size, scale);
  }
  if (options.channels !== 'rgb') throw new RangeError(`channels must be 'grey' or 'rgb', got '${String(options.channels)}'`);
  const p = plane(n * 3);
  for (let i = 0, at = 0; i < n; i++, at += inChannels) {
    p[3 * i] = data[at];
    p[3 * i + 1] = data[colour ? at + 1 : at];
    p[3 * i + 2] = data[colour ? at + 2 : at];
  }
  if (invert) for (let i = 0; i < 3 * n; i++) p[i] = 255 - p[i];
  return resizePlane(p, width, height, 3, size, size, 1);
}

/** Decodes a PNG or JPEG and preprocesses it: `size*size*channels` bytes, channels last. */
export function preprocessImage(bytes: Uint8Array, name: string, options: PreprocessOptions & DecodeOptions): Uint8Array {
  return preprocessPixels(decodeImage(bytes, name, options), options);
}
