/**
 * Loading Omniglot from a directory with its binary cache (src/io/omniglot-files.ts,
 * src/io/dataset-cache.ts), on small Omniglot-like archives: miss then hit with identical data,
 * invalidation when an archive or a folder file changes, corrupt / truncated / mismatched cache
 * files detected and rebuilt (never used), the fallback cache directory when the data directory
 * cannot hold one, extracted folders, and one-line errors for missing archives.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { encode as encodePng } from 'fast-png';
import { loadOmniglot, type LoadedOmniglot } from '../src/io/omniglot-files.js';
import { datasetCacheDir, readDatasetCache, userCacheDir, writeDatasetCache, CACHE_FORMAT_VERSION } from '../src/io/dataset-cache.js';
import { DatasetError } from '../src/data/errors.js';

function drawing(seed: number): Uint8Array {
  const size = 105;
  const rowBytes = Math.ceil(size / 8);
  const data = new Uint8Array(rowBytes * size).fill(0xff);
  const column = 5 + (seed % 90);
  for (let y = 0; y < size; y++) for (let x = column; x < column + 6; x++) data[y * rowBytes + (x >> 3)] &= ~(0x80 >> (x & 7));
  return encodePng({ width: size, height: size, data, channels: 1, depth: 1 });
}

function files(root: string, alphabets: Record<string, number>, seed = 0): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  let k = seed;
  for (const [alphabet, n] of Object.entries(alphabets)) {
    for (let c = 1; c <= n; c++) {
      for (let d = 1; d <= 2; d++) out[`${root}/${alphabet}/character${String(c).padStart(2, '0')}/${c}_${d}.png`] = drawing(k++ * 13);
    }
  }
  return out;
}

const BACKGROUND = files('images_background', { Latin: 3, Greek: 2 });
const EVALUATION = files('images_evaluation', { Angelic: 2 }, 100);

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reptile-data-cache-'));
  temps.push(dir);
  return dir;
}

async function omniglotDir(background = BACKGROUND, evaluation = EVALUATION): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'images_background.zip'), zipSync(background as Zippable));
  await writeFile(join(dir, 'images_evaluation.zip'), zipSync(evaluation as Zippable));
  return dir;
}

function sameData(a: LoadedOmniglot, b: LoadedOmniglot): void {
  assert.equal(a.size, b.size);
  assert.deepEqual(
    a.characters.map((c) => [c.name, c.count]),
    b.characters.map((c) => [c.name, c.count]),
  );
  a.characters.forEach((c, i) => assert.ok(Buffer.from(c.images).equals(Buffer.from(b.characters[i].images)), c.name));
}

test('first load decodes and writes the cache; the second is a hit with identical data', async () => {
  const dir = await omniglotDir();
  const cacheDir = join(await tempDir(), 'cache');
  let progress = 0;
  const first = await loadOmniglot(dir, { cacheDir, onProgress: () => progress++ });
  assert.equal(first.cache.status, 'miss');
  assert.equal(progress, 14);
  assert.ok(first.cache.file && first.cache.file.startsWith(cacheDir));
  assert.deepEqual(first.counts, { images_background: 5, images_evaluation: 2 });
  assert.equal(first.characters.length, 7);
  assert.equal(first.characters[0].name, 'images_background/Greek/character01');
  assert.deepEqual(first.sources.map((s) => [s.part, s.type]), [['images_background', 'zip'], ['images_evaluation', 'zip']]);
  assert.match(first.cache.key, /^[0-9a-f]{64}$/);

  progress = 0;
  const second = await loadOmniglot(dir, { cacheDir, onProgress: () => progress++ });
  assert.equal(second.cache.status, 'hit');
  assert.equal(second.cache.file, first.cache.file);
  assert.equal(progress, 0, 'nothing decoded on a hit');
  sameData(second, first);
  assert.deepEqual(second.counts, first.counts);
  // No temporary files are left behind.
  assert.deepEqual((await readdir(cacheDir)).filter((f) => f.endsWith('.tmp')), []);
});

test('a changed archive or another size misses the old cache', async () => {
  const dir = await omniglotDir();
  const cacheDir = join(await tempDir(), 'cache');
  const first = await loadOmniglot(dir, { cacheDir });
  const changed = { ...EVALUATION, 'images_evaluation/Angelic/character03/3_1.png': drawing(7) };
  await writeFile(join(dir, 'images_evaluation.zip'), zipSync(changed as Zippable));
  const second = await loadOmniglot(dir, { cacheDir });
  assert.equal(second.cache.status, 'miss');
  assert.notEqual(second.cache.key, first.cache.key);
  assert.deepEqual(second.counts, { images_background: 5, images_evaluation: 3 });
  const resized = await loadOmniglot(dir, { cacheDir, size: 14 });
  assert.equal(resized.cache.status, 'miss');
  assert.equal(resized.characters[0].images.length, 2 * 14 * 14);
  assert.equal((await loadOmniglot(dir, { cacheDir, size: 14 })).cache.status, 'hit');
  assert.equal((await loadOmniglot(dir, { cacheDir })).cache.status, 'hit');
});

test('corrupt, truncated or mismatched cache files are detected, never used, and rebuilt', async () => {
  const dir = await omniglotDir();
  const cacheDir = join(await tempDir(), 'cache');
  const reference = await loadOmniglot(dir, { cacheDir });
  const file = reference.cache.file!;
  const good = await readFile(file);

  const damage: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['flipped payload byte', (b) => ((b[b.length - 100] ^= 0x01), b), /payload checksum mismatch/],
    ['flipped header byte', (b) => ((b[100] ^= 0x01), b), /header checksum mismatch/],
    ['truncated', (b) => b.subarray(0, b.length - 1000), /truncated/],
    ['truncated to the prefix', (b) => b.subarray(0, 40), /truncated/],
    ['empty', () => Buffer.alloc(0), /truncated/],
    ['bad magic', (b) => ((b[0] = 0x41), b), /bad magic/],
    ['another format version', (b) => (b.writeUInt32LE(CACHE_FORMAT_VERSION + 1, 8), b), /format version/],
  ];
  for (const [what, change, reason] of damage) {
    await writeFile(file, change(Buffer.from(good)));
    const loaded = await loadOmniglot(dir, { cacheDir });
    assert.equal(loaded.cache.status, 'rebuilt', what);
    assert.match(loaded.cache.reason!, reason, what);
    assert.ok(loaded.cache.reason!.startsWith(file), 'the reason names the file');
    sameData(loaded, reference);
    assert.ok((await readFile(file)).equals(good), `${what}: the rebuilt file is the good one`);
    assert.equal((await loadOmniglot(dir, { cacheDir })).cache.status, 'hit', what);
  }

  // A valid cache file of another data set under this name: key mismatch.
  const otherDir = await omniglotDir(files('images_background', { Latin: 1 }), EVALUATION);
  const other = await loadOmniglot(otherDir, { cacheDir: join(otherDir, 'c') });
  await copyFile(other.cache.file!, file);
  const mismatched = await loadOmniglot(dir, { cacheDir });
  assert.equal(mismatched.cache.status, 'rebuilt');
  assert.match(mismatched.cache.reason!, /key mismatch/);
  sameData(mismatched, reference);
});

test('the cache file format round-trips and checks the kind and key', async () => {
  const file = join(await tempDir(), 'sub', 'x.bin');
  const classes = [
    { name: 'a', count: 2, images: Uint8Array.from({ length: 2 * 12 }, (_, i) => i) },
    { name: 'b', count: 0, images: new Uint8Array(0) },
    { name: 'c', count: 1, images: new Uint8Array(12).fill(255) },
  ];
  await writeDatasetCache(file, { kind: 'k', key: 'abc', size: 2, channels: 3, classes, meta: { note: 'x' } });
  const read = await readDatasetCache(file, { kind: 'k', key: 'abc' });
  assert.equal(read.status, 'hit');
  if (read.status === 'hit') {
    assert.deepEqual(read.data.classes.map((c) => [c.name, c.count, [...c.images]]), classes.map((c) => [c.name, c.count, [...c.images]]));
    assert.deepEqual(read.data.meta, { note: 'x' });
  }
  assert.deepEqual(await readDatasetCache(file, { kind: 'other', key: 'abc' }), { status: 'invalid', reason: "holds 'k', not 'other'" });
  assert.equal((await readDatasetCache(file, { kind: 'k', key: 'abd' })).status, 'invalid');
  assert.deepEqual(await readDatasetCache(join(dirname(file), 'none.bin'), { kind: 'k', key: 'abc' }), { status: 'missing' });
  await assert.rejects(writeDatasetCache(file, { kind: 'k', key: 'abc', size: 2, channels: 3, classes: [{ name: 'bad', count: 2, images: new Uint8Array(5) }] }), RangeError);
});

test('default cache location: <dir>/.reptile-cache, else the user cache dir; false disables it', async () => {
  const dir = await omniglotDir();
  const first = await loadOmniglot(dir);
  assert.equal(first.cache.status, 'miss');
  assert.equal(dirname(first.cache.file!), join(dir, '.reptile-cache'));
  assert.equal((await loadOmniglot(dir)).cache.status, 'hit');

  // A data directory that cannot hold a cache (here: .reptile-cache is a file, so it cannot be
  // created; a read-only directory fails the same way) falls back to $XDG_CACHE_HOME/reptile.
  const readOnly = await omniglotDir();
  await writeFile(join(readOnly, '.reptile-cache'), 'not a directory');
  const xdg = await tempDir();
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = xdg;
  try {
    const a = await loadOmniglot(readOnly);
    assert.equal(a.cache.status, 'miss');
    assert.equal(dirname(a.cache.file!), join(xdg, 'reptile'));
    const b = await loadOmniglot(readOnly);
    assert.equal(b.cache.status, 'hit');
    assert.equal(b.cache.file, a.cache.file);
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }

  // No writable cache directory at all: the data is still returned.
  const blocked = join(await tempDir(), 'blocked');
  await writeFile(blocked, 'a file, not a directory');
  const unwritable = await loadOmniglot(dir, { cacheDir: join(blocked, 'cache') });
  assert.equal(unwritable.cache.status, 'miss');
  assert.equal(unwritable.cache.file, undefined);
  assert.match(unwritable.cache.writeError!, /no cache directory could be written/);
  assert.equal(unwritable.characters.length, 7);

  const disabled = await loadOmniglot(dir, { cacheDir: false });
  assert.equal(disabled.cache.status, 'disabled');
  assert.equal(disabled.characters.length, 7);
});

test("the command line's cache: $REPTILE_CACHE_DIR when set and not empty, else the user cache dir", () => {
  const env = { HOME: '/home/someone' };
  assert.equal(datasetCacheDir({ ...env, REPTILE_CACHE_DIR: '/tmp/mine' }), '/tmp/mine');
  assert.equal(datasetCacheDir(env), userCacheDir(env));
  // An empty value is unset (it used to put the cache in the current directory).
  assert.equal(datasetCacheDir({ ...env, REPTILE_CACHE_DIR: '' }), userCacheDir(env));
  assert.equal(datasetCacheDir({ ...env, REPTILE_CACHE_DIR: '', XDG_CACHE_HOME: '/x' }), join('/x', 'reptile'));
});

test('extracted folders load like the archives and are keyed by their file list and contents', async () => {
  const dir = await tempDir();
  for (const [path, bytes] of Object.entries({ ...BACKGROUND, ...EVALUATION })) {
    await mkdir(join(dir, dirname(path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  await writeFile(join(dir, 'images_background', '.DS_Store'), 'junk');
  const zipped = await loadOmniglot(await omniglotDir(), { cacheDir: false });
  const cacheDir = join(dir, 'cache-here');
  const first = await loadOmniglot(dir, { cacheDir });
  assert.deepEqual(first.sources.map((s) => s.type), ['folder', 'folder']);
  assert.equal(first.cache.status, 'miss');
  sameData(first, zipped);
  assert.equal((await loadOmniglot(dir, { cacheDir })).cache.status, 'hit');
  // Changing one drawing changes the key.
  await writeFile(join(dir, 'images_background/Latin/character01/1_1.png'), drawing(55));
  const changed = await loadOmniglot(dir, { cacheDir });
  assert.equal(changed.cache.status, 'miss');
  assert.notEqual(changed.cache.key, first.cache.key);
  // An archive is preferred over a folder of the same part.
  await writeFile(join(dir, 'images_evaluation.zip'), zipSync(EVALUATION as Zippable));
  const mixed = await loadOmniglot(dir, { cacheDir });
  assert.deepEqual(mixed.sources.map((s) => s.type), ['folder', 'zip']);
});

test('missing or swapped archives give one-line errors naming the directory or file', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'images_background.zip'), zipSync(BACKGROUND as Zippable));
  await assert.rejects(
    loadOmniglot(dir, { cacheDir: false }),
    (e: unknown) => e instanceof DatasetError && e.message === `${dir}: missing images_evaluation.zip (or an extracted images_evaluation/ folder); Omniglot needs images_background and images_evaluation`,
  );
  const only = await loadOmniglot(dir, { cacheDir: false, parts: ['images_background'] });
  assert.deepEqual(only.counts, { images_background: 5 });
  await assert.rejects(loadOmniglot(join(dir, 'nope'), { cacheDir: false }), (e: unknown) => e instanceof DatasetError && /nope: no such directory/.test(e.message));
  const swapped = await omniglotDir(EVALUATION, BACKGROUND);
  await assert.rejects(
    loadOmniglot(swapped, { cacheDir: false }),
    (e: unknown) => e instanceof DatasetError && /images_background\.zip: holds images_evaluation\/Angelic\/character01, expected everything under images_background\//.test(e.message),
  );
  const broken = await omniglotDir();
  await writeFile(join(broken, 'images_background.zip'), 'not a zip at all, just some text that is long enough');
  await assert.rejects(
    loadOmniglot(broken, { cacheDir: false }),
    (e: unknown) => e instanceof DatasetError && e.message.startsWith(`${join(broken, 'images_background.zip')}: not a valid zip archive`),
  );
  await assert.rejects(loadOmniglot(broken, { size: 0 }), RangeError);
});
