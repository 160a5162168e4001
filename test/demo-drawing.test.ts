/**
 * The page's canvas-to-tensor preprocessing against the Omniglot loader: the same picture, once
 * as a PNG through omniglotPixels (what training saw) and once as the RGBA ImageData a canvas
 * holds, gives exactly the same 28x28 input; and a small case computed by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from 'fast-png';
import { drawingToExample, exampleToBytes } from '../src/demo/drawing.js';
import { omniglotPixels } from '../src/data/omniglot.js';
import { Rng } from '../src/core/rng.js';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { readZip } from '../src/data/zip.js';
import { decodePngImage } from '../src/data/image.js';
import { OMNIGLOT_DATA, omniglotRequirement } from './support/require.js';

/** A 105x105 black-on-white drawing with anti-aliased grey edges, as RGBA bytes. */
function drawing(seed: number): Uint8ClampedArray {
  const rng = Rng.fromSeed(seed);
  const size = 105;
  const rgba = new Uint8ClampedArray(size * size * 4).fill(255);
  for (let stroke = 0; stroke < 4; stroke++) {
    const [x0, y0, x1, y1] = [rng.uniform(5, 100), rng.uniform(5, 100), rng.uniform(5, 100), rng.uniform(5, 100)];
    for (let t = 0; t <= 1; t += 0.002) {
      const cx = x0 + t * (x1 - x0);
      const cy = y0 + t * (y1 - y0);
      for (let y = Math.floor(cy - 2); y <= Math.ceil(cy + 2); y++) {
        for (let x = Math.floor(cx - 2); x <= Math.ceil(cx + 2); x++) {
          const d = Math.hypot(x - cx, y - cy);
          const v = d < 1.5 ? 0 : d < 2.5 ? 128 : 255;
          const at = 4 * (y * size + x);
          for (let c = 0; c < 3; c++) rgba[at + c] = Math.min(rgba[at + c], v);
        }
      }
    }
  }
  return rgba;
}

test('a canvas drawing and the same picture as an Omniglot PNG become the same 28x28 input', () => {
  for (const seed of [1, 2, 3]) {
    const rgba = drawing(seed);
    // The PNG the loader reads: grey (one channel), as Omniglot's files.
    const grey = new Uint8Array(105 * 105);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    const png = encode({ width: 105, height: 105, data: grey, channels: 1, depth: 8 });
    const loader = omniglotPixels(png, `drawing ${seed}`);
    const page = drawingToExample({ width: 105, height: 105, data: rgba });
    assert.equal(page.length, 28 * 28);
    assert.deepEqual(Array.from(exampleToBytes(page)), Array.from(loader));
    // What the few-shot tasks feed the model: byte / 255, exactly.
    assert.ok(page.every((v, i) => v === Math.fround(loader[i] / 255)));
    assert.ok(loader.some((v) => v > 200) && loader.some((v) => v > 0 && v < 255), 'strokes high with grey edges');
  }
});

test('hand-computed: a 4x4 white canvas with one black pixel, resized to 2x2', () => {
  const rgba = new Uint8ClampedArray(4 * 4 * 4).fill(255);
  rgba.set([0, 0, 0, 255], 4 * (1 * 4 + 2)); // row 1, column 2: the top-right 2x2 block
  const example = drawingToExample({ width: 4, height: 4, data: rgba }, 2);
  // Inverted, the black pixel is 255; averaged over its 2x2 block: 63.75, rounded to 64.
  assert.deepEqual(Array.from(exampleToBytes(example)), [0, 64, 0, 0]);
  assert.equal(example[1], Math.fround(64 / 255));
});

test('an ImageData-like object (fields as prototype getters, as in browsers) is read correctly', () => {
  const rgba = drawing(4);
  class FakeImageData {
    readonly #data = rgba;
    get width() { return 105; }
    get height() { return 105; }
    get data() { return this.#data; }
  }
  assert.deepEqual(drawingToExample(new FakeImageData()), drawingToExample({ width: 105, height: 105, data: rgba }));
});

test('alpha is ignored like the loader does: an opaque white canvas is all background', () => {
  const rgba = new Uint8ClampedArray(105 * 105 * 4).fill(255);
  assert.ok(drawingToExample({ width: 105, height: 105, data: rgba }).every((v) => v === 0));
});

const ARCHIVE = join(OMNIGLOT_DATA, 'images_evaluation.zip');

test('real Omniglot drawings: the PNG through the loader and its pixels as canvas RGBA agree', { skip: omniglotRequirement(['images_evaluation.zip']) }, async () => {
  const entries = readZip(new Uint8Array(await readFile(ARCHIVE)), 'images_evaluation.zip').filter((e) => e.name.endsWith('.png')).slice(0, 20);
  assert.equal(entries.length, 20);
  for (const entry of entries) {
    const png = entry.data();
    const decoded = decodePngImage(png, entry.name);
    // What a canvas holds after drawing the image: RGBA, opaque.
    const rgba = new Uint8ClampedArray(decoded.width * decoded.height * 4);
    for (let i = 0; i < decoded.width * decoded.height; i++) rgba.set([decoded.data[i], decoded.data[i], decoded.data[i], 255], 4 * i);
    const page = drawingToExample({ width: decoded.width, height: decoded.height, data: rgba });
    assert.deepEqual(Array.from(exampleToBytes(page)), Array.from(omniglotPixels(png, entry.name)), entry.name);
  }
});
