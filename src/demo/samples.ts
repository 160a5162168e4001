/**
 * Omniglot test characters for the page's "sample" button, in a browser-friendly JSON file
 * (omniglot-samples.json): a few characters of the run's test split, each with its drawings as
 * base64 of size*size bytes (0..255, strokes high, the loader's convention).
 */
import type { ImageClassSet } from '../data/image-class.js';
import { Rng } from '../core/rng.js';
import type { LabelledExamples } from './few-shot-demo.js';

export const SAMPLES_FILE = 'omniglot-samples.json';

export interface OmniglotSamples {
  size: number;
  characters: { name: string; drawings: string[] }[];
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** `count` characters of `split` (chosen with `seed`), every drawing of each, unrotated. */
export function sampleCharacters(split: ImageClassSet, count: number, seed: number): OmniglotSamples {
  const size = split.size;
  const imageBytes = size * size * split.channels;
  // Only unrotated characters: a rotated copy of a test character is not a new symbol.
  const plain = split.classes.filter((c) => !c.name.includes('@rot'));
  const chosen = Rng.fromSeed(seed).permutation(plain.length).slice(0, Math.min(count, plain.length));
  return {
    size,
    characters: chosen.map((i) => {
      const c = plain[i];
      const out = new Float32Array(imageBytes);
      const drawings: string[] = [];
      for (let d = 0; d < c.count; d++) {
        c.image(d, out, 0);
        drawings.push(toBase64(Uint8Array.from(out, (v) => Math.round(v * 255))));
      }
      return { name: c.name, drawings };
    }),
  };
}

/** The drawings of a samples file as model inputs (floats 0..1). */
export function decodeSamples(samples: OmniglotSamples): { name: string; drawings: Float32Array[] }[] {
  return samples.characters.map((c) => ({ name: c.name, drawings: c.drawings.map((d) => Float32Array.from(fromBase64(d), (v) => v / 255)) }));
}

/** Drawings the page scores the adaptation on, per sampled character (besides the shots). */
export const HELD_OUT_PER_CLASS = 5;

/** One task of the page's "sample" button: the characters' names, the examples to adapt to, the held-out drawings. */
export interface SampledTask {
  names: string[];
  support: LabelledExamples;
  heldOut: LabelledExamples;
  /** Per label: the character's index in the samples and the indices of its drawings in each set. */
  picks: { character: number; support: number[]; heldOut: number[] }[];
}

/**
 * The page's "sample" button: `ways` distinct characters of the pool (label c for the c-th drawn),
 * for each a shuffle of its drawings, the first `shots` to adapt to and the next `heldOut` to score.
 * The draws from `rng` are the page's, so a Node test scores exactly the tasks a page session shows.
 */
export function samplePageTask(characters: readonly { name: string; drawings: Float32Array[] }[], ways: number, shots: number, rng: Rng, heldOut = HELD_OUT_PER_CLASS): SampledTask {
  if (characters.length < ways) throw new RangeError(`${ways}-way tasks need ${ways} characters, the samples have ${characters.length}`);
  const chosen = rng.permutation(characters.length).slice(0, ways);
  const task: SampledTask = { names: [], support: { x: [], y: [] }, heldOut: { x: [], y: [] }, picks: [] };
  chosen.forEach((index, label) => {
    const character = characters[index];
    const order = rng.permutation(character.drawings.length);
    const pick = { character: index, support: order.slice(0, shots), heldOut: order.slice(shots, shots + heldOut) };
    task.names.push(character.name);
    task.picks.push(pick);
    for (const i of pick.support) (task.support.x.push(character.drawings[i]), task.support.y.push(label));
    for (const i of pick.heldOut) (task.heldOut.x.push(character.drawings[i]), task.heldOut.y.push(label));
  });
  return task;
}
