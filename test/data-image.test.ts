/**
 * Image decoding and preprocessing (src/data/image.ts, src/data/png.ts): the exact area-average
 * resize on hand-checked cases, PNG decoding of every colour type, bit depth and row filter
 * against fast-png, JPEG decoding, channel modes and inversion, truncated and corrupt files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zlibSync } from 'fflate';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import {
  areaWeights,
  decodeImage,
  preprocessImage,
  preprocessPixels,
  resizeArea,
  sniffImageFormat,
} from '../src/data/image.js';
import { decodePngSamples, decodePngSamplesWithFastPng } from '../src/data/png.js';
import { crc32 } from '../src/data/zip.js';
import { DatasetError } from '../src/data/errors.js';

// ---------------------------------------------------------------------------------------------
// A small PNG writer that uses every row filter (fast-png's encoder only writes filter 0).

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}

/** Writes a non-interlaced PNG whose row y uses filter (y + shift) % 5. `samples` are unpacked. */
function writePng(opts: {
  width: number;
  height: number;
  colourType: number;
  depth: number;
  samples: ArrayLike<number>;
  palette?: number[][];
  shift?: number;
  idatPieces?: number;
}): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[opts.colourType]!;
  const { width, height, depth } = opts;
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const bpp = Math.max(1, (channels * depth) >> 3);
  const rows = new Uint8Array(height * rowBytes);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < perRow; x++) {
      const v = opts.samples[y * perRow + x];
      if (depth === 16) {
        rows[y * rowBytes + 2 * x] = v >> 8;
        rows[y * rowBytes + 2 * x + 1] = v & 255;
      } else if (depth === 8) rows[y * rowBytes + x] = v;
      else {
        const bit = x * depth;
        rows[y * rowBytes + (bit >> 3)] |= v << (8 - depth - (bit & 7));
      }
    }
  }
  const filtered = new Uint8Array(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const f = (y + (opts.shift ?? 0)) % 5;
    filtered[y * (rowBytes + 1)] = f;
    for (let i = 0; i < rowBytes; i++) {
      const raw = rows[y * rowBytes + i];
      const left = i >= bpp ? rows[y * rowBytes + i - bpp] : 0;
      const up = y > 0 ? rows[(y - 1) * rowBytes + i] : 0;
      const upLeft = y > 0 && i >= bpp ? rows[(y - 1) * rowBytes + i - bpp] : 0;
      const predicted = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][f];
      filtered[y * (rowBytes + 1) + 1 + i] = (raw - predicted) & 255;
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = opts.colourType;
  const zdata = zlibSync(filtered);
  const pieces = opts.idatPieces ?? 1;
  const idat: Uint8Array[] = [];
  const step = Math.ceil(zdata.length / pieces);
  for (let i = 0; i < zdata.length; i += step) idat.push(chunk('IDAT', zdata.subarray(i, i + step)));
  return concat([
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...(opts.palette ? [chunk('PLTE', Uint8Array.from(opts.palette.flat()))] : []),
    ...idat,
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Deterministic pseudo-random integers (no dependency on the library's Rng). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

// ---------------------------------------------------------------------------------------------

test('area weights cover each output with the exact overlaps (105 -> 28: 3.75 pixels each)', () => {
  const w = areaWeights(105, 28);
  // Output 0 covers [0, 3.75): pixels 0, 1, 2 fully and 3/4 of pixel 3 (weights in units of 1/28).
  assert.deepEqual([w.first[0], w.count[0]], [0, 4]);
  assert.deepEqual([...w.weights.subarray(w.offset[0], w.offset[0] + 4)], [28, 28, 28, 21]);
  // Output 1 covers [3.75, 7.5): 1/4 of pixel 3, pixels 4..6, half of pixel 7.
  assert.deepEqual([w.first[1], w.count[1]], [3, 5]);
  assert.deepEqual([...w.weights.subarray(w.offset[1], w.offset[1] + 5)], [7, 28, 28, 28, 14]);
  for (let o = 0; o < 28; o++) {
    const sum = w.weights.subarray(w.offset[o], w.offset[o] + w.count[o]).reduce((a, b) => a + b, 0);
    assert.equal(sum, 105, `weights of output ${o} sum to the input size`);
  }
});

test('area resize: hand-checked cases', () => {
  // 4x4 -> 2x2: means of 2x2 blocks.
  const block = [0, 10, 100, 100, 20, 30, 100, 100, 255, 255, 0, 0, 255, 255, 0, 4];
  assert.deepEqual([...resizeArea(block, 4, 4, 1, 2, 2)], [15, 100, 255, 1]);
  // 5 -> 2 along x: (10 + 20 + 30/2) / 2.5 = 18 and (30/2 + 40 + 50) / 2.5 = 42.
  assert.deepEqual([...resizeArea([10, 20, 30, 40, 50], 5, 1, 1, 2, 1)], [18, 42]);
  // Rounding is half up: mean 0.5 -> 1.
  assert.deepEqual([...resizeArea([0, 1], 2, 1, 1, 1, 1)], [1]);
  // Same size is the identity; upscaling repeats pixels exactly on integer ratios.
  assert.deepEqual([...resizeArea([1, 2, 3, 4], 2, 2, 1, 2, 2)], [1, 2, 3, 4]);
  assert.deepEqual([...resizeArea([7, 9], 2, 1, 1, 4, 1)], [7, 7, 9, 9]);
  // Channels are resized independently.
  assert.deepEqual([...resizeArea([10, 0, 30, 100, 0, 50], 2, 1, 3, 1, 1)], [55, 0, 40]);

  // 105 x 105 with column 3 white: output column 0 gets 255 * 0.75 / 3.75 = 51, column 1 gets
  // 255 * 0.25 / 3.75 = 17, every other column 0 (on every row).
  const img = new Uint8Array(105 * 105);
  for (let y = 0; y < 105; y++) img[y * 105 + 3] = 255;
  const out = resizeArea(img, 105, 105, 1, 28, 28);
  for (let y = 0; y < 28; y++) {
    assert.deepEqual([...out.subarray(y * 28, y * 28 + 3)], [51, 17, 0]);
    assert.equal(out.subarray(y * 28 + 2, y * 28 + 28).reduce((a, b) => a + b, 0), 0);
  }
});

test('the resize preserves the mean exactly on integer ratios and closely otherwise', () => {
  const next = lcg(7);
  const img = Uint8Array.from({ length: 84 * 84 }, () => next() % 256);
  const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(resizeArea(img, 84, 84, 1, 28, 28)) - mean(img)) < 0.5);
  assert.ok(Math.abs(mean(resizeArea(img, 84, 84, 1, 25, 25)) - mean(img)) < 0.5);
});

test('PNG: every colour type, bit depth and row filter decodes exactly as fast-png does', () => {
  const cases: { colourType: number; depth: number }[] = [
    ...[1, 2, 4, 8, 16].map((depth) => ({ colourType: 0, depth })),
    ...[8, 16].flatMap((depth) => [2, 4, 6].map((colourType) => ({ colourType, depth }))),
    ...[1, 2, 4, 8].map((depth) => ({ colourType: 3, depth })),
  ];
  const next = lcg(42);
  for (const { colourType, depth } of cases) {
    for (const [width, height] of [[1, 1], [7, 5], [13, 11], [105, 9]]) {
      const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType]!;
      const max = colourType === 3 ? Math.min(2 ** depth, 16) : 2 ** depth;
      const samples = Array.from({ length: width * height * channels }, () => next() % max);
      const palette = colourType === 3 ? Array.from({ length: max }, () => [next() % 256, next() % 256, next() % 256]) : undefined;
      for (const shift of [0, 2]) {
        const png = writePng({ width, height, colourType, depth, samples, palette, shift, idatPieces: 1 + (width % 3) });
        const name = `ct${colourType}-d${depth}-${width}x${height}`;
        const ours = decodePngSamples(png, name, 1e9);
        const reference = decodePngSamplesWithFastPng(png, name);
        assert.deepEqual([...ours.data], samples, `${name}: samples`);
        assert.deepEqual([...reference.data], samples, `${name}: fast-png agrees`);
        assert.deepEqual([ours.width, ours.height, ours.channels, ours.depth], [width, height, channels, depth]);
        if (palette) assert.deepEqual(ours.palette, palette);
      }
    }
  }
});

test('PNG: interlaced images go through fast-png and match the non-interlaced ones', () => {
  const next = lcg(3);
  for (const [channels, depth] of [[1, 8], [3, 8], [4, 16], [2, 8]] as const) {
    const width = 19;
    const height = 13;
    const max = 2 ** depth;
    const values = Array.from({ length: width * height * channels }, () => next() % max);
    const data = depth === 16 ? Uint16Array.from(values) : Uint8Array.from(values);
    const plain = encodePng({ width, height, data, channels, depth });
    const interlaced = encodePng({ width, height, data, channels, depth }, { interlace: 'Adam7' });
    assert.equal(interlaced[28], 1, 'interlace flag set');
    const a = decodeImage(plain, 'plain.png');
    const b = decodeImage(interlaced, 'interlaced.png');
    assert.deepEqual([...b.data], [...a.data]);
  }
});

test('decoded PNGs become 8-bit grey or RGB: low depths scaled, 16 bits rounded, palette expanded, alpha dropped', () => {
  const grey1 = writePng({ width: 3, height: 1, colourType: 0, depth: 1, samples: [0, 1, 0] });
  assert.deepEqual([...decodeImage(grey1, 'g1').data], [0, 255, 0]);
  const grey4 = writePng({ width: 3, height: 1, colourType: 0, depth: 4, samples: [0, 1, 15] });
  assert.deepEqual([...decodeImage(grey4, 'g4').data], [0, 17, 255]);
  const grey16 = writePng({ width: 3, height: 1, colourType: 0, depth: 16, samples: [0, 257 * 100 + 128, 65535] });
  assert.deepEqual([...decodeImage(grey16, 'g16').data], [0, 100, 255]);
  const ga = writePng({ width: 2, height: 1, colourType: 4, depth: 8, samples: [10, 0, 20, 255] });
  const gaImage = decodeImage(ga, 'ga');
  assert.deepEqual([gaImage.channels, ...gaImage.data], [1, 10, 20]);
  const rgba = writePng({ width: 1, height: 1, colourType: 6, depth: 8, samples: [1, 2, 3, 4] });
  assert.deepEqual([...decodeImage(rgba, 'rgba').data], [1, 2, 3]);
  const indexed = writePng({ width: 2, height: 1, colourType: 3, depth: 2, samples: [1, 0], palette: [[9, 8, 7], [1, 2, 3]] });
  const indexedImage = decodeImage(indexed, 'p');
  assert.deepEqual([indexedImage.channels, ...indexedImage.data], [3, 1, 2, 3, 9, 8, 7]);
});

test('truncated or corrupt PNGs are refused with an error naming the file', () => {
  const png = encodePng({ width: 30, height: 30, data: new Uint8Array(900).fill(200), channels: 1, depth: 8 });
  for (const cut of [10, 30, png.length - 13, png.length - 1]) {
    assert.throws(
      () => decodeImage(png.subarray(0, cut), 'a/b/c.png'),
      (e: unknown) => e instanceof DatasetError && e.message.startsWith('a/b/c.png: truncated PNG') && !e.message.includes('\n'),
    );
  }
  const flipped = png.slice();
  flipped[45] ^= 0x40; // inside IDAT
  assert.throws(() => decodeImage(flipped, 'x.png'), /x\.png: corrupt PNG \(CRC mismatch in its IDAT chunk\)/);
  assert.throws(() => decodeImage(new TextEncoder().encode('hello world'), 'hello.png'), /hello\.png: not a PNG or JPEG file/);
  assert.throws(() => decodeImage(new Uint8Array(0), 'empty.png'), /empty\.png: not a PNG or JPEG file \(empty\)/);
  // A huge declared size is refused before anything is allocated.
  const huge = writePng({ width: 1, height: 1, colourType: 0, depth: 8, samples: [0] });
  const view = new DataView(huge.buffer);
  view.setUint32(16, 100000);
  view.setUint32(20, 100000);
  view.setUint32(29, crc32(huge.subarray(12, 29)));
  assert.throws(() => decodeImage(huge, 'huge.png'), /huge\.png: 100000x100000 image is larger than/);
});

test('JPEG: decoded to RGB; truncated files are refused by name', () => {
  const width = 16;
  const height = 8;
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) rgba.set([200, 100, 50, 255], 4 * p);
  const bytes = new Uint8Array(jpeg.encode({ width, height, data: rgba }, 95).data);
  assert.equal(sniffImageFormat(bytes), 'jpeg');
  const image = decodeImage(bytes, 'x.jpg');
  assert.deepEqual([image.width, image.height, image.channels], [16, 8, 3]);
  for (let p = 0; p < width * height; p++) {
    assert.ok(Math.abs(image.data[3 * p] - 200) <= 3 && Math.abs(image.data[3 * p + 1] - 100) <= 3 && Math.abs(image.data[3 * p + 2] - 50) <= 3);
  }
  assert.throws(() => decodeImage(bytes.subarray(0, bytes.length - 40), 'cut.jpg'), /cut\.jpg: truncated JPEG/);
  assert.throws(() => decodeImage(bytes.subarray(0, 3), 'tiny.jpg'), /tiny\.jpg: (truncated|corrupt) JPEG/);
});

test('preprocessing: grey is BT.601 luminance, rgb replicates grey, inversion is optional', () => {
  const rgb = { width: 1, height: 1, channels: 3 as const, data: [255, 0, 0] };
  // 0.299 * 255 = 76.245 -> 76.
  assert.deepEqual([...preprocessPixels(rgb, { size: 1, channels: 'grey' })], [76]);
  assert.deepEqual([...preprocessPixels(rgb, { size: 1, channels: 'grey', invert: true })], [179]);
  assert.deepEqual([...preprocessPixels(rgb, { size: 1, channels: 'rgb' })], [255, 0, 0]);
  assert.deepEqual([...preprocessPixels(rgb, { size: 1, channels: 'rgb', invert: true })], [0, 255, 255]);
  const grey = { width: 2, height: 1, channels: 1 as const, data: [10, 20] };
  assert.deepEqual([...preprocessPixels(grey, { size: 2, channels: 'rgb' })], [10, 10, 10, 20, 20, 20, 10, 10, 10, 20, 20, 20]);
  // RGBA (a canvas's ImageData): alpha ignored.
  const canvas = { width: 1, height: 1, channels: 4 as const, data: new Uint8ClampedArray([0, 0, 255, 0]) };
  assert.deepEqual([...preprocessPixels(canvas, { size: 1, channels: 'grey' })], [29]);

  // A black stroke on white, as in Omniglot's PNGs: with invert, the stroke is high.
  const stroke = new Uint8Array(10 * 10).fill(255);
  for (let y = 0; y < 10; y++) stroke[y * 10 + 5] = 0;
  const png = encodePng({ width: 10, height: 10, data: stroke, channels: 1, depth: 8 });
  const plain = preprocessImage(png, 's.png', { size: 10, channels: 'grey' });
  const inverted = preprocessImage(png, 's.png', { size: 10, channels: 'grey', invert: true });
  assert.equal(plain[5], 0);
  assert.equal(inverted[5], 255);
  assert.equal(inverted[0], 0);
});

test('preprocessing is deterministic and independent of buffer reuse between images', () => {
  const next = lcg(11);
  const a = { width: 50, height: 37, channels: 3 as const, data: Uint8Array.from({ length: 50 * 37 * 3 }, () => next() % 256) };
  const b = { width: 9, height: 9, channels: 1 as const, data: Uint8Array.from({ length: 81 }, () => next() % 256) };
  const first = preprocessPixels(a, { size: 20, channels: 'grey' });
  preprocessPixels(b, { size: 20, channels: 'rgb', invert: true });
  assert.deepEqual(preprocessPixels(a, { size: 20, channels: 'grey' }), first);
});
