/**
 * Image-folder datasets (src/data/image-folder.ts, src/io/image-folder-files.ts):
 * `<root>/<split>/<class>/<image>` with PNG and JPEG files, as Mini-ImageNet's
 * train/val/test/<wnid>/*.jpg; grey or RGB, resized, not inverted unless asked, channels-last
 * floats from the ImageClassSet, cached like Omniglot, one-line errors off the layout.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { loadImageFolder } from '../src/io/image-folder-files.js';
import { decodeImageFolderArchive, decodeImageFolderFiles, imageFolderClassSet } from '../src/data/image-folder.js';
import { DatasetError } from '../src/data/errors.js';

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reptile-image-folder-'));
  temps.push(dir);
  return dir;
}

/** A solid-colour RGB PNG. */
function png(size: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) data.set(rgb, 3 * p);
  return encodePng({ width: size, height: size, data, channels: 3, depth: 8 });
}

/** A solid-colour JPEG (84x84 like Mini-ImageNet's). */
function jpg(size: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(size * size * 4);
  for (let p = 0; p < size * size; p++) data.set([...rgb, 255], 4 * p);
  return new Uint8Array(jpeg.encode({ width: size, height: size, data }, 95).data);
}

const WHITE: [number, number, number] = [255, 255, 255];
const RED: [number, number, number] = [200, 0, 0];

function miniImageNetLike(): Record<string, Uint8Array> {
  return {
    'train/n01532829/n0153282900000005.jpg': jpg(84, RED),
    'train/n01532829/n0153282900000001.jpg': jpg(84, WHITE),
    'train/n01558993/a.png': png(84, WHITE),
    'train/n01558993/b.PNG': png(40, [0, 0, 0]),
    'val/n01855672/x.jpeg': jpg(84, WHITE),
    'test/n01930112/y.jpg': jpg(84, RED),
    'test/n01930112/z.jpg': jpg(84, RED),
    'README.txt': new TextEncoder().encode('files at the root are ignored'),
    'train/.DS_Store': new Uint8Array(4),
  };
}

async function writeTree(files: Record<string, Uint8Array>): Promise<string> {
  const root = await tempDir();
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(join(root, dirname(path)), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  return root;
}

test("Mini-ImageNet's layout loads as is: splits, classes sorted, images sorted, RGB 84x84", async () => {
  const root = await writeTree(miniImageNetLike());
  const data = await loadImageFolder(root, { cacheDir: false });
  assert.deepEqual(Object.keys(data.splits).sort(), ['test', 'train', 'val']);
  assert.deepEqual(data.splits.train.map((c) => [c.name, c.count]), [['train/n01532829', 2], ['train/n01558993', 2]]);
  assert.deepEqual(data.counts, { test: 2, train: 4, val: 1 });
  assert.equal(data.size, 84);
  assert.equal(data.channels, 3);
  const first = data.splits.train[0];
  assert.equal(first.images.length, 2 * 84 * 84 * 3);
  // File-name order: ...0001 (white) before ...0005 (red); JPEG is lossy, so approximately.
  assert.ok(Math.abs(first.images[0] - 255) <= 2, 'first image white');
  const second = first.images.subarray(84 * 84 * 3);
  assert.ok(Math.abs(second[0] - 200) <= 3 && second[1] <= 3 && second[2] <= 3, 'second image red');
  // Not inverted: white stays high, black stays 0.
  const pngs = data.splits.train[1];
  assert.equal(pngs.images[0], 255);
  assert.equal(pngs.images[84 * 84 * 3], 0);

  const set = imageFolderClassSet(data, 'train');
  assert.deepEqual([set.size, set.channels, set.classes.length], [84, 3, 2]);
  const out = new Float32Array(84 * 84 * 3);
  set.classes[1].image(0, out, 0);
  assert.equal(out[0], 1);
  assert.equal(imageFolderClassSet(data, 'train', { augment: true }).classes.length, 8);
  assert.throws(() => imageFolderClassSet(data, 'validation'), (e: unknown) => e instanceof DatasetError && /no split 'validation' in the image folder; found: test, train, val/.test(e.message));
});

test('grey channels, other sizes and optional inversion', async () => {
  const files = miniImageNetLike();
  const grey = decodeImageFolderFiles(Object.entries(files), { channels: 'grey', size: 10 });
  assert.equal(grey.channels, 1);
  const pngs = grey.splits.train[1];
  assert.equal(pngs.images.length, 2 * 100);
  assert.deepEqual([pngs.images[0], pngs.images[100]], [255, 0]);
  // Red (200, 0, 0): luminance 0.299 * 200 = 59.8 -> 60 (JPEG may shift it slightly).
  assert.ok(Math.abs(grey.splits.test[0].images[0] - 60) <= 2);
  const inverted = decodeImageFolderFiles(Object.entries(files), { channels: 'grey', size: 10, invert: true });
  assert.deepEqual([inverted.splits.train[1].images[0], inverted.splits.train[1].images[100]], [0, 255]);
  // A zip of the folder, with or without a single top folder, decodes the same.
  const zipped = zipSync(files as Zippable);
  assert.deepEqual(decodeImageFolderArchive(zipped, { channels: 'grey', size: 10 }), grey);
  const nested = Object.fromEntries(Object.entries(files).filter(([p]) => p.includes('/')).map(([p, b]) => [`mini/${p}`, b]));
  assert.deepEqual(decodeImageFolderArchive(zipSync(nested as Zippable), { channels: 'grey', size: 10 }), grey);
});

test('the decoded folder is cached and invalidated when a file changes', async () => {
  const root = await writeTree(miniImageNetLike());
  const cacheDir = join(await tempDir(), 'cache');
  const first = await loadImageFolder(root, { cacheDir, size: 21 });
  assert.equal(first.cache.status, 'miss');
  const second = await loadImageFolder(root, { cacheDir, size: 21 });
  assert.equal(second.cache.status, 'hit');
  assert.deepEqual(second.splits, first.splits);
  assert.equal((await loadImageFolder(root, { cacheDir, size: 21, channels: 'grey' })).cache.status, 'miss');
  assert.equal((await loadImageFolder(root, { cacheDir, size: 21, invert: true })).cache.status, 'miss');
  await writeFile(join(root, 'val/n01855672/x.jpeg'), jpg(84, RED));
  const changed = await loadImageFolder(root, { cacheDir, size: 21 });
  assert.equal(changed.cache.status, 'miss');
  assert.notDeepEqual(changed.splits.val, first.splits.val);
  // Default location: <root>/.reptile-cache, which the walker skips as a hidden folder.
  const local = await loadImageFolder(root, { size: 21 });
  assert.equal(dirname(local.cache.file!), join(root, '.reptile-cache'));
  assert.equal((await loadImageFolder(root, { size: 21 })).cache.status, 'hit');
});

test('files off the layout give one-line errors naming them', async () => {
  const good = miniImageNetLike();
  const cases: [Record<string, Uint8Array>, RegExp][] = [
    [{ ...good, 'train/loose.jpg': jpg(8, RED) }, /: unexpected file "train\/loose\.jpg"; the layout is <split>\/<class>\/<image>\.\(png\|jpg\|jpeg\)$/],
    [{ ...good, 'train/n1/deep/x.jpg': jpg(8, RED) }, /unexpected file "train\/n1\/deep\/x\.jpg"/],
    [{ ...good, 'train/n1/labels.csv': new Uint8Array(3) }, /"train\/n1\/labels\.csv" is not an image; allowed extensions: \.png, \.jpg, \.jpeg$/],
    [{ ...good, 'train/n1/broken.jpg': jpg(16, RED).subarray(0, 200) }, /train\/n1\/broken\.jpg: truncated JPEG/],
    [{ ...good, 'train/n1/text.png': new TextEncoder().encode('hello') }, /train\/n1\/text\.png: not a PNG or JPEG file/],
  ];
  for (const [files, pattern] of cases) {
    const root = await writeTree(files);
    await assert.rejects(loadImageFolder(root, { cacheDir: false }), (e: unknown) => e instanceof DatasetError && pattern.test(e.message) && e.message.startsWith(root));
  }
  const empty = await writeTree({ 'README.md': new Uint8Array(1) });
  await assert.rejects(loadImageFolder(empty, { cacheDir: false }), /no images found/);
  await assert.rejects(loadImageFolder(join(empty, 'missing'), { cacheDir: false }), /missing: no such directory/);
  await assert.rejects(loadImageFolder(empty, { channels: 'cmyk' as 'rgb' }), /channels must be 'grey' or 'rgb'/);
});
