/**
 * Layout verification of Omniglot zips from their central directory (src/io/download.ts):
 * the real archives pass; generated zips (fflate) that miss alphabets, characters or drawings,
 * or have the wrong top folder, or are not zips, fail with a message naming the archive and what
 * is missing. Also: SHA256SUMS parsing and the URL base's precedence.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  inspectOmniglotZip,
  LayoutError,
  OMNIGLOT_ARCHIVES,
  OMNIGLOT_URL_BASE,
  omniglotArchive,
  parseSha256Sums,
  resolveOmniglotUrlBase,
  sha256Hex,
  verifyOmniglotArchive,
  type OmniglotArchiveSpec,
} from '../src/io/download.js';
import { layoutEntries, PNG, without, zip } from './support/omniglot-zip.js';
import { OMNIGLOT_DATA as DATA, omniglotRequirement } from './support/require.js';

/** The real archives' test: skipped without them, or this file fails under REPTILE_REQUIRE_DATA=1. */
const noRealArchives = omniglotRequirement();

/** A tiny two-alphabet layout, so generated zips stay small. */
const TINY: OmniglotArchiveSpec = {
  split: 'images_background',
  file: 'images_background.zip',
  alphabets: { Alpha: 2, Beta: 3 },
  characters: 5,
  drawingsPerCharacter: 20,
  drawings: 100,
};

describe('Omniglot layout from the central directory', () => {
  test('a complete generated archive passes; macOS metadata and hidden files are ignored', () => {
    const entries = layoutEntries(TINY);
    entries['__MACOSX/images_background/._Alpha'] = PNG;
    entries['images_background/Alpha/.DS_Store'] = PNG;
    const layout = inspectOmniglotZip(zip(entries), TINY);
    assert.deepEqual(layout.problems, []);
    assert.equal(layout.complete, true);
    assert.deepEqual([layout.alphabets, layout.characters, layout.drawings], [2, 5, 100]);
  });

  test('a missing character is named', () => {
    const layout = inspectOmniglotZip(zip(without(layoutEntries(TINY), 'images_background/Beta/character02/')), TINY);
    assert.equal(layout.complete, false);
    assert.deepEqual([layout.characters, layout.drawings], [4, 80]);
    assert.deepEqual(layout.problems, ['missing character Beta/character02']);
  });

  test('a missing alphabet, missing drawings, an empty PNG and unexpected entries are each reported', () => {
    let entries = without(layoutEntries(TINY), 'images_background/Alpha/');
    entries = without(entries, 'images_background/Beta/character01/0001_20.png');
    entries['images_background/Beta/character02/0002_01.png'] = new Uint8Array(0);
    entries['images_background/Beta/character04/0004_01.png'] = PNG;
    entries['images_background/Gamma/character01/0001_01.png'] = PNG;
    const layout = inspectOmniglotZip(zip(entries), TINY);
    assert.deepEqual(layout.problems, [
      'missing alphabet Alpha (2 characters)',
      'drawings per character: Beta/character01 has 19 of 20',
      'empty PNG: images_background/Beta/character02/0002_01.png',
      'unexpected Beta/character04, Gamma/',
    ]);
  });

  test('many missing characters are summarised', () => {
    const spec = omniglotArchive('images_evaluation');
    let entries = layoutEntries(spec);
    for (const c of ['01', '02', '03', '04', '05']) entries = without(entries, `images_evaluation/Angelic/character${c}/`);
    const layout = inspectOmniglotZip(zip(entries), spec);
    assert.deepEqual(layout.problems, ['missing 5 characters: Angelic/character01, Angelic/character02, Angelic/character03 and 2 more']);
    assert.deepEqual([layout.characters, layout.drawings], [654, 13080]);
  });

  test('the wrong top-level folder (e.g. the other archive) is named', () => {
    const layout = inspectOmniglotZip(zip(layoutEntries(TINY, 'images_evaluation')), TINY);
    assert.deepEqual(layout.problems, ['no images_background/ folder (top-level entries: images_evaluation/)']);
  });

  test('bytes that are not a zip (e.g. a truncated download or an HTML page) are a LayoutError', () => {
    const whole = zip(layoutEntries(TINY));
    for (const bytes of [whole.subarray(0, whole.length - 10), new TextEncoder().encode('<html>rate limited</html>'), new Uint8Array(0)]) {
      assert.throws(() => inspectOmniglotZip(bytes, TINY), (e: unknown) => e instanceof LayoutError && /^images_background\.zip is not a readable zip archive \(.+\)$/.test(e.message));
    }
  });

  describe('on disk', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'reptile-download-layout-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('the full background layout missing two characters fails: which archive, which characters', async () => {
      const spec = omniglotArchive('images_background');
      let entries = layoutEntries(spec);
      entries = without(entries, 'images_background/Latin/character05/');
      entries = without(entries, 'images_background/Tifinagh/character55/');
      const path = join(dir, 'images_background.zip');
      await writeFile(path, zip(entries));
      await assert.rejects(verifyOmniglotArchive(path, spec), (e: unknown) => {
        assert.ok(e instanceof LayoutError);
        assert.equal(
          e.message,
          'images_background.zip is incomplete (30 alphabets, 962 of 964 characters, 19240 of 19280 drawings): missing 2 characters: Latin/character05, Tifinagh/character55',
        );
        return true;
      });
    });

    test('the real archives are complete: 964 + 659 characters, 19280 + 13180 drawings', { skip: noRealArchives }, async () => {
      const counts = [];
      for (const spec of OMNIGLOT_ARCHIVES) {
        const layout = await verifyOmniglotArchive(join(DATA, spec.file), spec);
        counts.push([layout.alphabets, layout.characters, layout.drawings]);
      }
      assert.deepEqual(counts, [
        [30, 964, 19280],
        [20, 659, 13180],
      ]);
      const sums = parseSha256Sums(await readFile(join(DATA, 'SHA256SUMS'), 'utf8'));
      assert.equal(sums.get('images_background.zip'), sha256Hex(await readFile(join(DATA, 'images_background.zip'))));
    });
  });
});

describe('SHA256SUMS and the URL base', () => {
  test('parseSha256Sums reads text and binary mode lines, and ignores the rest', () => {
    const a = 'A'.repeat(64);
    const b = 'b'.repeat(64);
    const sums = parseSha256Sums(`${a}  images_background.zip\r\n${b} *./images_evaluation.zip\n# comment\nnot a line\n`);
    assert.deepEqual([...sums], [
      ['images_background.zip', 'a'.repeat(64)],
      ['images_evaluation.zip', b],
    ]);
  });

  test('--url-base beats $REPTILE_OMNIGLOT_URL_BASE beats the official base; a slash is added', () => {
    const env = { REPTILE_OMNIGLOT_URL_BASE: 'http://127.0.0.1:9/env' };
    assert.equal(resolveOmniglotUrlBase('http://127.0.0.1:9/flag', env), 'http://127.0.0.1:9/flag/');
    assert.equal(resolveOmniglotUrlBase(undefined, env), 'http://127.0.0.1:9/env/');
    assert.equal(resolveOmniglotUrlBase(undefined, {}), OMNIGLOT_URL_BASE);
    assert.equal(resolveOmniglotUrlBase(undefined, { REPTILE_OMNIGLOT_URL_BASE: '' }), OMNIGLOT_URL_BASE);
    assert.throws(() => resolveOmniglotUrlBase('ftp://example/', {}), /^RangeError: --url-base ftp:\/\/example\/: expected an http:\/\/ or https:\/\/ URL/);
    assert.throws(() => resolveOmniglotUrlBase(undefined, { REPTILE_OMNIGLOT_URL_BASE: 'not a url' }), /^RangeError: REPTILE_OMNIGLOT_URL_BASE not a url: not a URL/);
  });
});
