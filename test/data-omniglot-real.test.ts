/**
 * The real Omniglot archives (../shared/data/omniglot relative to the repository, i.e.
 * <clone>/../shared/data/omniglot in CI): 1623 characters (964 + 659), 20 drawings each, decoded
 * once into a temporary cache and then loaded from it without decoding again; the paper's split
 * on the real data. Skipped, with a message, only when the archives are absent (a failure under
 * REPTILE_REQUIRE_DATA=1).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOmniglot } from '../src/io/omniglot-files.js';
import { splitOmniglot } from '../src/data/splits.js';
import { OMNIGLOT_DATA as DATA, omniglotRequirement } from './support/require.js';

const skip = omniglotRequirement();

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

test('the real archives: 1623 characters (964 + 659), 20 drawings each; the second load reads the cache, decodes nothing, same pixels', { skip, timeout: 600_000 }, async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'reptile-omniglot-real-'));
  temps.push(cacheDir);
  // onProgress reports decoded drawings; a load from the cache decodes none.
  const decoded = [0, 0];
  const first = await loadOmniglot(DATA, { cacheDir, onProgress: (done) => (decoded[0] = done) });
  assert.equal(first.cache.status, 'miss');
  const second = await loadOmniglot(DATA, { cacheDir, onProgress: (done) => (decoded[1] = done) });
  assert.equal(second.cache.status, 'hit');
  assert.deepEqual(decoded, [32460, 0]);
  assert.ok(first.cache.file?.startsWith(cacheDir), first.cache.file);
  assert.equal(second.cache.file, first.cache.file);
  assert.deepEqual(second.characters.map((c) => c.name), first.characters.map((c) => c.name));
  for (const [i, c] of second.characters.entries()) assert.ok(Buffer.from(c.images).equals(Buffer.from(first.characters[i].images)), c.name);
  t.diagnostic(`first load (decode + cache write): ${first.seconds.toFixed(2)} s; second load (cache hit): ${second.seconds.toFixed(3)} s`);

  for (const data of [first, second]) {
    assert.equal(data.characters.length, 1623);
    assert.deepEqual(data.counts, { images_background: 964, images_evaluation: 659 });
    assert.equal(data.size, 28);
    for (const c of data.characters) {
      assert.equal(c.count, 20, c.name);
      assert.equal(c.images.length, 20 * 28 * 28);
    }
  }
  assert.equal(first.characters[0].name, 'images_background/Alphabet_of_the_Magi/character01');
  assert.equal(first.characters.at(-1)!.name, 'images_evaluation/ULOG/character26');
  // Strokes high, background 0: most pixels are background, the mean is low but not zero.
  let sum = 0;
  let zeros = 0;
  let total = 0;
  for (const c of first.characters) {
    for (const v of c.images) {
      sum += v;
      if (v === 0) zeros++;
    }
    total += c.images.length;
  }
  assert.ok(zeros / total > 0.7, `background share ${(zeros / total).toFixed(3)}`);
  assert.ok(sum / total > 5 && sum / total < 60, `mean pixel ${(sum / total).toFixed(1)}`);
  // Known quirk of the source data: two identical Braille drawings.
  const braille = first.characters.find((c) => c.name === 'images_background/Braille/character01')!;
  const drawing = (i: number) => Buffer.from(braille.images.subarray(i * 784, (i + 1) * 784));
  assert.ok(drawing(2).equals(drawing(18)), 'Braille/character01 0192_03 and 0192_19 are identical');

  const split = splitOmniglot(second);
  assert.deepEqual([split.train.classes.length, split.test.classes.length], [4800, 423]);
  const maml = splitOmniglot(second, { scheme: 'maml' });
  assert.deepEqual([maml.train.classes.length, maml.validation.classes.length, maml.test.classes.length], [1100, 100, 423]);
  const train = new Set(split.characters.train);
  assert.ok(split.characters.test.every((n) => !train.has(n)));
});
