/**
 * A drawing on the demo page's canvas to one model input, with exactly the loader's Omniglot
 * convention (../data/omniglot.ts): luminance, inverted (strokes 1, background 0), exact area
 * resize to 28x28 (../data/image.ts), then value / 255 as the few-shot tasks feed the model.
 * The canvas is drawn black on an opaque white background, like an Omniglot PNG; its RGBA
 * ImageData goes through the same preprocessPixels call as a decoded PNG, so the same picture
 * gives the same tensor in Node and in every browser.
 */
import { preprocessPixels, type Pixels } from '../data/image.js';
import { OMNIGLOT_DEFAULT_SIZE, omniglotPreprocessing } from '../data/omniglot.js';

/** A canvas's RGBA pixels (ImageData), or pixels with their channel count, as the model sees them. */
export type CanvasPixels = Pixels | { width: number; height: number; data: ArrayLike<number> };

/** Canvas ImageData (RGBA) or any grey/RGB(A) pixels to size*size floats in 0..1, strokes high. */
export function drawingToExample(pixels: CanvasPixels, size = OMNIGLOT_DEFAULT_SIZE): Float32Array {
  // ImageData's fields are getters on its prototype: copy them by name (a spread would drop them).
  const withChannels: Pixels = 'channels' in pixels ? pixels : { width: pixels.width, height: pixels.height, data: pixels.data, channels: 4 };
  const bytes = preprocessPixels(withChannels, omniglotPreprocessing(size));
  return Float32Array.from(bytes, (v) => v / 255);
}

/** An example (floats 0..1, strokes high) back to bytes 0..255, for thumbnails and files. */
export function exampleToBytes(example: Float32Array): Uint8Array {
  return Uint8Array.from(example, (v) => Math.round(v * 255));
}
