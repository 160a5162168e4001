/**
 * PNG decoding, browser-safe. fast-png decodes every PNG, but it inflates through fflate's
 * streaming API, which allocates ~200 KB per image: for Omniglot's 32,460 small drawings that is
 * most of the decoding time. Non-interlaced PNGs (all of Omniglot, nearly every PNG in practice)
 * therefore take a direct path here: concatenate the IDAT chunks, inflate once into a buffer of
 * the exact size, undo the row filters. Interlaced (Adam7) images go to fast-png. PNG decoding
 * is lossless and exactly specified, so both paths give identical samples (the tests compare
 * them on images of every colour type and bit depth).
 */
import { decode as fastPngDecode } from 'fast-png';
import { unzlibSync } from 'fflate';
import { DatasetError, messageOf } from './errors.js';
import { crc32 } from './zip.js';

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** A PNG's samples as stored: one value per sample (unpacked), 0..2^depth-1, interleaved. */
export interface PngSamples {
  width: number;
  height: number;
  /** Samples per pixel: 1 grey or palette index, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
  depth: number;
  data: Uint8Array | Uint16Array;
  /** RGB entries, for colour type 3 (data are then indices). */
  palette?: number[][];
}

export function hasPngSignature(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

interface PngChunks {
  width: number;
  height: number;
  depth: number;
  colourType: number;
  interlace: number;
  idat: Uint8Array[];
  palette?: number[][];
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/**
 * Walks the chunks: signature, IHDR first, every chunk inside the file with a correct CRC, an
 * IEND at the end. A truncated or corrupt file is reported here, by name, before any inflating.
 */
function readChunks(bytes: Uint8Array, name: string, maxPixels: number): PngChunks {
  if (!hasPngSignature(bytes)) throw new DatasetError(`${name}: not a PNG file (bad signature)`, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: Omit<PngChunks, 'idat' | 'palette'> | undefined;
  const idat: Uint8Array[] = [];
  let palette: number[][] | undefined;
  for (;;) {
    if (at + 12 > bytes.length) throw new DatasetError(`${name}: truncated PNG (ends before its IEND chunk)`, name);
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    if (at + 12 + length > bytes.length) throw new DatasetError(`${name}: truncated PNG (inside its ${type} chunk)`, name);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) {
      throw new DatasetError(`${name}: corrupt PNG (CRC mismatch in its ${type} chunk)`, name);
    }
    if (!header) {
      if (type !== 'IHDR' || length !== 13) throw new DatasetError(`${name}: not a valid PNG (no IHDR chunk first)`, name);
      header = {
        width: view.getUint32(at + 8),
        height: view.getUint32(at + 12),
        depth: data[8],
        colourType: data[9],
        interlace: data[12],
      };
      const { width, height, depth, colourType } = header;
      if (width === 0 || height === 0) throw new DatasetError(`${name}: PNG declares an empty image (${width}x${height})`, name);
      if (width * height > maxPixels) throw new DatasetError(`${name}: ${width}x${height} image is larger than the ${maxPixels} pixels allowed`, name);
      if (!DEPTHS[colourType]?.includes(depth)) throw new DatasetError(`${name}: not a valid PNG (colour type ${colourType} with bit depth ${depth})`, name);
      if (data[10] !== 0 || data[11] !== 0 || header.interlace > 1) throw new DatasetError(`${name}: not a valid PNG (unknown compression, filter or interlace method)`, name);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'PLTE') {
      if (length % 3 !== 0 || length === 0) throw new DatasetError(`${name}: corrupt PNG (PLTE of ${length} bytes)`, name);
      palette = [];
      for (let i = 0; i < length; i += 3) palette.push([data[i], data[i + 1], data[i + 2]]);
    }
    at += 12 + length;
    if (type === 'IEND') break;
  }
  if (idat.length === 0) throw new DatasetError(`${name}: corrupt PNG (no image data)`, name);
  if (header!.colourType === 3 && !palette) throw new DatasetError(`${name}: corrupt PNG (palette image without PLTE)`, name);
  return { ...header!, idat, palette };
}

/** The Paeth predictor (PNG specification, 9.4). */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes a PNG of any colour type and bit depth to its samples (see the module comment). */
export function decodePngSamples(bytes: Uint8Array, name: string, maxPixels: number): PngSamples {
  const chunks = readChunks(bytes, name, maxPixels);
  const { width, height, depth, colourType } = chunks;
  const channels = CHANNELS[colourType];
  if (chunks.interlace === 1) return viaFastPng(bytes, name, width, height, channels, depth, chunks.palette);

  const bitsPerPixel = channels * depth;
  const rowBytes = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const expected = height * (rowBytes + 1);
  let compressed: Uint8Array;
  if (chunks.idat.length === 1) compressed = chunks.idat[0];
  else {
    compressed = new Uint8Array(chunks.idat.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks.idat) compressed.set(c, o), (o += c.length);
  }
  let raw: Uint8Array;
  try {
    // One byte more than needed: a stream that fills it holds more data than the image.
    raw = unzlibSync(compressed, { out: new Uint8Array(expected + 1) });
  } catch (error) {
    throw new DatasetError(`${name}: corrupt PNG (${messageOf(error)})`, name);
  }
  if (raw.length < expected) throw new DatasetError(`${name}: corrupt PNG (image data is ${raw.length} of ${expected} bytes)`, name);

  // Undo the filters in place; the filter byte of each row is skipped.
  const rows = new Uint8Array(height * rowBytes);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)];
    const src = y * (rowBytes + 1) + 1;
    const dst = y * rowBytes;
    const prev = dst - rowBytes;
    switch (filter) {
      case 0:
        rows.set(raw.subarray(src, src + rowBytes), dst);
        break;
      case 1:
        for (let i = 0; i < rowBytes; i++) rows[dst + i] = raw[src + i] + (i >= bpp ? rows[dst + i - bpp] : 0);
        break;
      case 2:
        for (let i = 0; i < rowBytes; i++) rows[dst + i] = raw[src + i] + (y > 0 ? rows[prev + i] : 0);
        break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const left = i >= bpp ? rows[dst + i - bpp] : 0;
          const up = y > 0 ? rows[prev + i] : 0;
          rows[dst + i] = raw[src + i] + ((left + up) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const left = i >= bpp ? rows[dst + i - bpp] : 0;
          const up = y > 0 ? rows[prev + i] : 0;
          const upLeft = y > 0 && i >= bpp ? rows[prev + i - bpp] : 0;
          rows[dst + i] = raw[src + i] + paeth(left, up, upLeft);
        }
        break;
      default:
        throw new DatasetError(`${name}: corrupt PNG (unknown filter type ${filter} on row ${y})`, name);
    }
  }

  const perRow = width * channels;
  let data: Uint8Array | Uint16Array;
  if (depth === 8) data = rows;
  else if (depth === 16) {
    data = new Uint16Array(perRow * height);
    for (let i = 0; i < data.length; i++) data[i] = (rows[2 * i] << 8) | rows[2 * i + 1];
  } else {
    data = new Uint8Array(perRow * height);
    const mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      const row = y * rowBytes;
      for (let x = 0; x < perRow; x++) {
        const bit = x * depth;
        data[y * perRow + x] = (rows[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
      }
    }
  }
  return { width, height, channels, depth, data, palette: chunks.palette };
}

/** fast-png, for interlaced images; its packed low-depth rows are unpacked to one value per sample. */
function viaFastPng(
  bytes: Uint8Array,
  name: string,
  width: number,
  height: number,
  channels: number,
  depth: number,
  palette: number[][] | undefined,
): PngSamples {
  let png: ReturnType<typeof fastPngDecode>;
  try {
    png = fastPngDecode(bytes, { checkCrc: true });
  } catch (error) {
    throw new DatasetError(`${name}: corrupt PNG (${messageOf(error)})`, name);
  }
  return { width, height, channels, depth, data: unpackFastPng(png.data, width, height, channels, depth, name), palette };
}

/** fast-png's `data` (rows packed to whole bytes below depth 8) to one value per sample. */
export function unpackFastPng(
  data: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  depth: number,
  name: string,
): Uint8Array | Uint16Array {
  const perRow = width * channels;
  if (depth >= 8) {
    if (data.length < perRow * height) throw new DatasetError(`${name}: corrupt PNG (too little image data)`, name);
    return depth === 16 ? Uint16Array.from(data) : Uint8Array.from(data);
  }
  const rowBytes = Math.ceil((perRow * depth) / 8);
  if (data.length < rowBytes * height) throw new DatasetError(`${name}: corrupt PNG (too little image data)`, name);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < perRow; x++) {
      const bit = x * depth;
      out[y * perRow + x] = (data[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Decodes with fast-png only (reference for tests, and for callers who want it). */
export function decodePngSamplesWithFastPng(bytes: Uint8Array, name: string): PngSamples {
  let png: ReturnType<typeof fastPngDecode>;
  try {
    png = fastPngDecode(bytes, { checkCrc: true });
  } catch (error) {
    throw new DatasetError(`${name}: corrupt PNG (${messageOf(error)})`, name);
  }
  const channels = png.channels;
  return {
    width: png.width,
    height: png.height,
    channels,
    depth: png.depth,
    data: unpackFastPng(png.data, png.width, png.height, channels, png.depth, name),
    palette: png.palette,
  };
}
