/**
 * Image classes and Omniglot's splits (src/data/image-class.ts, src/data/splits.ts): exact
 * 90-degree rotations written as value/255 floats, the Reptile split (1200 characters x 4
 * rotations = 4800 training classes, 423 test) and MAML's (1100 / 100 / 423), with no test
 * character in training or validation, determinism for a seed, independence of input order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storedClassSet, StoredImageClass, type StoredClass } from '../src/data/image-class.js';
import { splitOmniglot, OMNIGLOT_SPLIT_SIZES } from '../src/data/splits.js';
import type { OmniglotData } from '../src/data/omniglot.js';
import { DatasetError } from '../src/data/errors.js';

function read(cls: { image(i: number, out: Float32Array, offset: number): void }, i: number, length: number): number[] {
  const out = new Float32Array(length + 2).fill(-1);
  cls.image(i, out, 1);
  assert.equal(out[0], -1, 'nothing written before the offset');
  assert.equal(out[length + 1], -1, 'nothing written after the image');
  return [...out.subarray(1, length + 1)].map((v) => Math.round(v * 255));
}

test('rotations are exact counter-clockwise quarter turns (as numpy rot90), values / 255', () => {
  // [[1, 2, 3], [4, 5, 6], [7, 8, 9]] and a second image.
  const stored: StoredClass = { name: 'a/b/c', count: 2, images: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 255]) };
  const set = storedClassSet([stored], 3, 1, [0, 90, 180, 270]);
  assert.deepEqual(set.classes.map((c) => c.name), ['a/b/c', 'a/b/c@rot90', 'a/b/c@rot180', 'a/b/c@rot270']);
  assert.deepEqual(read(set.classes[0], 0, 9), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(read(set.classes[1], 0, 9), [3, 6, 9, 2, 5, 8, 1, 4, 7]);
  assert.deepEqual(read(set.classes[2], 0, 9), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.deepEqual(read(set.classes[3], 0, 9), [7, 4, 1, 8, 5, 2, 9, 6, 3]);
  assert.deepEqual(read(set.classes[1], 1, 9), [30, 60, 255, 20, 50, 80, 10, 40, 70]);
  // Values are exactly value / 255 in float32.
  const out = new Float32Array(9);
  set.classes[0].image(1, out, 0);
  assert.equal(out[8], 1);
  assert.equal(out[0], Math.fround(10 / 255));
  // Four quarter turns are the identity, for a random image.
  const size = 7;
  const images = Uint8Array.from({ length: size * size }, (_, i) => (i * 37) % 256);
  const turn = (src: Uint8Array) => {
    const floats = new Float32Array(size * size);
    new StoredImageClass({ name: 'x', count: 1, images: src }, size, 1, 90).image(0, floats, 0);
    return Uint8Array.from(floats, (v) => Math.round(v * 255));
  };
  assert.deepEqual(turn(turn(turn(turn(images)))), images);
});

test('rotations of channels-last colour images move whole pixels', () => {
  // 2x2 RGB: pixel (r, c) = [10r + c, 100 + 10r + c, 200 + 10r + c].
  const px = (r: number, c: number) => [10 * r + c, 100 + 10 * r + c, 200 + 10 * r + c];
  const images = Uint8Array.from([...px(0, 0), ...px(0, 1), ...px(1, 0), ...px(1, 1)]);
  const rot90 = new StoredImageClass({ name: 'x', count: 1, images }, 2, 3, 90);
  // rot90: out(0,0) = in(0,1), out(0,1) = in(1,1), out(1,0) = in(0,0), out(1,1) = in(1,0).
  assert.deepEqual(read(rot90, 0, 12), [...px(0, 1), ...px(1, 1), ...px(0, 0), ...px(1, 0)]);
});

test('image() checks its arguments', () => {
  const cls = new StoredImageClass({ name: 'x', count: 1, images: new Uint8Array(4) }, 2, 1);
  assert.throws(() => cls.image(1, new Float32Array(4), 0), RangeError);
  assert.throws(() => cls.image(0, new Float32Array(4), 1), RangeError);
  assert.throws(() => new StoredImageClass({ name: 'x', count: 2, images: new Uint8Array(4) }, 2, 1), DatasetError);
});

/** 1623 characters shaped like Omniglot's (964 + 659), images 2x2 holding the character index. */
function fakeOmniglot(): OmniglotData {
  const characters = [];
  for (let i = 0; i < 1623; i++) {
    const root = i < 964 ? 'images_background' : 'images_evaluation';
    const name = `${root}/Alphabet${String(Math.floor(i / 40)).padStart(2, '0')}/character${String(i % 40).padStart(2, '0')}`;
    characters.push({ name, count: 1, images: new Uint8Array(4).fill(i % 256) });
  }
  return { size: 2, characters };
}

const base = (name: string) => name.replace(/@rot\d+$/, '');

test("Reptile's split: 1200 characters x 4 rotations = 4800 training classes, 423 test, disjoint", () => {
  const data = fakeOmniglot();
  const split = splitOmniglot(data);
  assert.equal(split.scheme, 'reptile');
  assert.equal(split.seed, 0);
  assert.equal(split.augment, true);
  assert.equal(split.characters.train.length, 1200);
  assert.equal(split.characters.validation.length, 0);
  assert.equal(split.characters.test.length, 423);
  assert.equal(split.train.classes.length, 4800);
  assert.equal(split.validation.classes.length, 0);
  assert.equal(split.test.classes.length, 423);
  assert.deepEqual([split.train.size, split.train.channels, split.test.size, split.test.channels], [2, 1, 2, 1]);
  // Character-major: each character's four rotations are consecutive.
  assert.deepEqual(
    split.train.classes.slice(0, 4).map((c) => c.name),
    ['', '@rot90', '@rot180', '@rot270'].map((s) => split.characters.train[0] + s),
  );
  const train = new Set(split.train.classes.map((c) => base(c.name)));
  assert.equal(train.size, 1200);
  for (const c of split.test.classes) {
    assert.ok(!train.has(c.name), `${c.name} is both in train and test`);
    assert.ok(!c.name.includes('@rot'), 'test classes are not rotated');
  }
  assert.equal(new Set([...train, ...split.test.classes.map((c) => c.name)]).size, 1623);
  // Both archives contribute to both parts (merged before shuffling).
  for (const names of [split.characters.train, split.characters.test]) {
    assert.ok(names.some((n) => n.startsWith('images_background/')) && names.some((n) => n.startsWith('images_evaluation/')));
  }
});

test("MAML's split: 1100 / 100 / 423 characters, disjoint; the same 423 test characters as Reptile's", () => {
  const data = fakeOmniglot();
  const maml = splitOmniglot(data, { scheme: 'maml' });
  assert.deepEqual(OMNIGLOT_SPLIT_SIZES.maml, { train: 1100, validation: 100, augment: false });
  assert.equal(maml.train.classes.length, 1100);
  assert.equal(maml.validation.classes.length, 100);
  assert.equal(maml.test.classes.length, 423);
  const parts = [maml.characters.train, maml.characters.validation, maml.characters.test].map((p) => new Set(p));
  assert.equal(new Set(parts.flatMap((p) => [...p])).size, 1623, 'no character in two parts');
  for (const name of parts[2]) assert.ok(!parts[0].has(name) && !parts[1].has(name));
  const reptile = splitOmniglot(data, { scheme: 'reptile' });
  assert.deepEqual(maml.characters.test, reptile.characters.test);
  assert.deepEqual([...maml.characters.train, ...maml.characters.validation], reptile.characters.train);
  // Augmentation is an option for MAML's training part.
  const augmented = splitOmniglot(data, { scheme: 'maml', augment: true });
  assert.equal(augmented.train.classes.length, 4400);
  assert.equal(augmented.validation.classes.length, 100);
  assert.equal(splitOmniglot(data, { augment: false }).train.classes.length, 1200);
});

test('the split is fixed by its seed, not by the input order', () => {
  const data = fakeOmniglot();
  const a = splitOmniglot(data, { seed: 0 });
  const shuffled = { size: data.size, characters: [...data.characters].reverse() };
  const b = splitOmniglot(shuffled, { seed: 0 });
  assert.deepEqual(b.characters, a.characters);
  const c = splitOmniglot(data, { seed: 1 });
  assert.notDeepEqual(c.characters.test, a.characters.test);
  assert.deepEqual(splitOmniglot(data, { seed: 1 }).characters, c.characters);
  // The split does not simply keep the sorted order.
  assert.notDeepEqual(a.characters.test, [...a.characters.test].sort());
  // Classes read their character's images: the fake image holds the character's index.
  const index = new Map(data.characters.map((ch, i) => [ch.name, i]));
  const out = new Float32Array(4);
  a.test.classes[5].image(0, out, 0);
  assert.equal(Math.round(out[0] * 255), index.get(a.test.classes[5].name)! % 256);
});

test('small data sets need explicit part sizes; bad options are refused', () => {
  const data = { size: 2, characters: fakeOmniglot().characters.slice(0, 10) };
  assert.throws(() => splitOmniglot(data), (e: unknown) => e instanceof DatasetError && /needs more than 1200 \+ 0 characters, but the data has 10/.test(e.message));
  const small = splitOmniglot(data, { train: 6, validation: 0 });
  assert.deepEqual([small.train.classes.length, small.test.classes.length], [24, 4]);
  assert.throws(() => splitOmniglot(data, { scheme: 'nope' as 'maml' }), /unknown split scheme 'nope'; allowed: reptile, maml/);
  const dup = { size: 2, characters: [...data.characters, data.characters[0]] };
  assert.throws(() => splitOmniglot(dup, { train: 3 }), /appears twice/);
});
