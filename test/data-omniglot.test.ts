/**
 * Omniglot decoding (src/data/omniglot.ts, src/data/zip.ts) on small Omniglot-like archives made
 * here with fflate and fast-png: layout parsing and order, the pixel convention (black strokes
 * become high values), the 105 -> 28 area resize, archives and extracted folders agreeing, and
 * one-line errors for bad entries and hostile archives (`..`, absolute paths, huge declared
 * sizes, too many entries, entries that inflate beyond their declared size).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync, type Zippable } from 'fflate';
import { encode as encodePng } from 'fast-png';
import { decodeOmniglotArchive, decodeOmniglotFiles, mergeOmniglot, omniglotPixels, OMNIGLOT_PIXELS } from '../src/data/omniglot.js';
import { readZip } from '../src/data/zip.js';
import { DatasetError } from '../src/data/errors.js';

/** A 1-bit PNG like Omniglot's: white background, black where `ink(x, y)`. */
function drawing(size: number, ink: (x: number, y: number) => boolean): Uint8Array {
  const rowBytes = Math.ceil(size / 8);
  const data = new Uint8Array(rowBytes * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) if (!ink(x, y)) data[y * rowBytes + (x >> 3)] |= 0x80 >> (x & 7);
  }
  return encodePng({ width: size, height: size, data, channels: 1, depth: 1 });
}

/** An Omniglot-like file set: alphabet -> characters -> drawings, 105x105 with a stroke at a column. */
function omniglotFiles(root: string, alphabets: Record<string, number>, drawings = 2): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  let k = 0;
  for (const [alphabet, characters] of Object.entries(alphabets)) {
    for (let c = 1; c <= characters; c++) {
      for (let d = 1; d <= drawings; d++) {
        const column = 10 + ((k * 7) % 80);
        k++;
        files[`${root}/${alphabet}/character${String(c).padStart(2, '0')}/${String(c).padStart(4, '0')}_${String(d).padStart(2, '0')}.png`] = drawing(
          105,
          (x) => x >= column && x < column + 4,
        );
      }
    }
  }
  return files;
}

function zip(files: Record<string, Uint8Array>): Uint8Array {
  return zipSync(files as Zippable, { level: 6 });
}

/** Offsets of the central directory entries of a zip made by zipSync. */
function centralEntries(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i++) if (view.getUint32(i, true) === 0x02014b50) out.push(i);
  return out;
}

function oneLine(pattern: RegExp) {
  return (e: unknown) => e instanceof DatasetError && pattern.test(e.message) && !e.message.includes('\n');
}

test('an archive decodes to characters sorted by name, drawings sorted, 28x28 bytes each', () => {
  const files = omniglotFiles('images_background', { Latin: 3, Greek: 2, 'Japanese_(hiragana)': 1 }, 3);
  const data = decodeOmniglotArchive(zip(files), { source: 'bg.zip' });
  assert.equal(data.size, 28);
  assert.deepEqual(
    data.characters.map((c) => c.name),
    [
      'images_background/Greek/character01',
      'images_background/Greek/character02',
      'images_background/Japanese_(hiragana)/character01',
      'images_background/Latin/character01',
      'images_background/Latin/character02',
      'images_background/Latin/character03',
    ],
  );
  for (const c of data.characters) {
    assert.equal(c.count, 3);
    assert.ok(c.images instanceof Uint8Array);
    assert.equal(c.images.length, 3 * 28 * 28);
  }
  // Drawings are in file-name order: drawing 2 of Latin/character01 is its second image.
  const name = 'images_background/Latin/character01/0001_02.png';
  const second = omniglotPixels(files[name], name);
  const latin1 = data.characters.find((c) => c.name === 'images_background/Latin/character01')!;
  assert.deepEqual(latin1.images.subarray(784, 1568), second);
});

test('pixel convention: black strokes become 255, the white background 0 (area-averaged at the edges)', () => {
  assert.equal(OMNIGLOT_PIXELS, 'strokes=255,background=0');
  // A stroke over columns 40..59 (20 px) of 105: output columns 11..15 are fully inside it
  // ([41.25, 60) covers 11..15 at 3.75 px each), column 10 covers [37.5, 41.25): 1.25/3.75 inked.
  const png = drawing(105, (x) => x >= 40 && x < 60);
  const img = omniglotPixels(png, 'stroke.png', 28);
  for (let y = 0; y < 28; y++) {
    assert.equal(img[y * 28 + 0], 0, 'background is 0');
    for (let x = 11; x <= 15; x++) assert.equal(img[y * 28 + x], 255, 'stroke is 255');
    assert.equal(img[y * 28 + 10], Math.round((255 * 1.25) / 3.75)); // 85
    assert.equal(img[y * 28 + 16], 0); // [60, 63.75): no ink
  }
  // A single black column 3: 255 * 0.75 / 3.75 = 51 in output column 0, 17 in column 1.
  const thin = omniglotPixels(drawing(105, (x) => x === 3), 'thin.png', 28);
  assert.deepEqual([...thin.subarray(0, 3)], [51, 17, 0]);
  // Other sizes: 105 -> 105 is the inverted image itself.
  const full = omniglotPixels(png, 'stroke.png', 105);
  assert.equal(full[40], 255);
  assert.equal(full[39], 0);
});

test('an extracted folder (path -> bytes) decodes exactly like the archive', () => {
  const files = omniglotFiles('images_evaluation', { Angelic: 2, ULOG: 2 });
  const fromZip = decodeOmniglotArchive(zip(files), { size: 20 });
  const fromFolder = decodeOmniglotFiles(new Map(Object.entries(files).reverse()), { size: 20 });
  assert.deepEqual(fromFolder, fromZip);
  // Hidden files and macOS resource forks are skipped.
  const withJunk = { ...files, 'images_evaluation/.DS_Store': new Uint8Array(3), '__MACOSX/images_evaluation/._x.png': new Uint8Array(3) };
  assert.deepEqual(decodeOmniglotArchive(zip(withJunk), { size: 20 }), fromZip);
});

test('merging the two archives keeps name order and refuses duplicates', () => {
  const bg = decodeOmniglotArchive(zip(omniglotFiles('images_background', { Latin: 2 })), { size: 8 });
  const ev = decodeOmniglotArchive(zip(omniglotFiles('images_evaluation', { Angelic: 1 })), { size: 8 });
  const merged = mergeOmniglot([ev, bg]);
  assert.deepEqual(
    merged.characters.map((c) => c.name),
    ['images_background/Latin/character01', 'images_background/Latin/character02', 'images_evaluation/Angelic/character01'],
  );
  assert.throws(() => mergeOmniglot([bg, bg]), oneLine(/appears twice/));
});

test('the progress callback counts every drawing', () => {
  const calls: [number, number][] = [];
  decodeOmniglotArchive(zip(omniglotFiles('images_background', { Latin: 2 }, 3)), { size: 8, onProgress: (d, t) => calls.push([d, t]) });
  assert.deepEqual(calls.at(-1), [6, 6]);
  assert.equal(calls.length, 6);
});

test('bad entries give one-line errors naming the archive and the entry', () => {
  const good = omniglotFiles('images_background', { Latin: 1 });
  const png = Object.values(good)[0];
  const cases: [Record<string, Uint8Array>, RegExp][] = [
    [{ ...good, 'images_background/Latin/0001_01.png': png }, /^bg\.zip: unexpected entry "images_background\/Latin\/0001_01\.png"; Omniglot's layout is <root>\/<alphabet>\/<character>\/<drawing>\.png$/],
    [{ ...good, 'images_background/Latin/character01/notes.txt': png }, /^bg\.zip: unexpected entry ".*notes\.txt"/],
    [{ ...good, 'images_background/Latin/character01/x/y.png': png }, /^bg\.zip: unexpected entry/],
    [{ ...good, 'images_background/Latin/character01/0001_09.png': new TextEncoder().encode('not a png') }, /^bg\.zip: images_background\/Latin\/character01\/0001_09\.png: not a PNG file/],
    [{ ...good, 'images_background/Latin/character01/0001_09.png': png.subarray(0, png.length - 20) }, /^bg\.zip: images_background\/Latin\/character01\/0001_09\.png: truncated PNG/],
    [{ 'images_background/readme.txt': png }, /unexpected entry/],
    [{}, /^bg\.zip: no drawings found/],
  ];
  for (const [files, pattern] of cases) {
    assert.throws(() => decodeOmniglotArchive(zip(files), { source: 'bg.zip' }), oneLine(pattern));
  }
  assert.throws(() => decodeOmniglotFiles([['images_background/Latin/character01/a.png', png.subarray(0, 50)]], { source: 'dir' }), oneLine(/^dir: images_background\/Latin\/character01\/a\.png: truncated PNG/));
});

test('not an archive, empty or truncated archives are refused', () => {
  const bytes = zip(omniglotFiles('images_background', { Latin: 2 }));
  assert.throws(() => decodeOmniglotArchive(new Uint8Array(0), { source: 'a.zip' }), oneLine(/^a\.zip: not a valid zip archive \(the file is empty\)/));
  assert.throws(() => decodeOmniglotArchive(bytes.subarray(0, bytes.length >> 1), { source: 'a.zip' }), oneLine(/^a\.zip: not a valid zip archive/));
  assert.throws(() => decodeOmniglotArchive(new TextEncoder().encode('x'.repeat(100)), { source: 'a.zip' }), oneLine(/not a valid zip archive/));
  assert.throws(() => decodeOmniglotArchive(undefined as unknown as Uint8Array, { source: 'a.zip' }), oneLine(/^a\.zip: missing archive/));
});

test('hostile archives are refused before anything is inflated: .., absolute paths', () => {
  const png = Object.values(omniglotFiles('r', { A: 1 }, 1))[0];
  for (const [name, pattern] of [
    ['../evil.png', /^evil\.zip: entry "\.\.\/evil\.png" contains '\.\.'; refusing the archive/],
    ['images_background/../../evil.png', /contains '\.\.'/],
    ['/etc/evil.png', /^evil\.zip: entry "\/etc\/evil\.png" has an absolute path; refusing the archive/],
    ['C:/evil.png', /has an absolute path/],
    ['images_background\\..\\evil.png', /contains '\.\.'/],
  ] as const) {
    const bytes = zip({ 'images_background/Latin/character01/0001_01.png': png, [name]: png });
    assert.throws(() => decodeOmniglotArchive(bytes, { source: 'evil.zip' }), oneLine(pattern), name);
    assert.throws(() => readZip(bytes, 'evil.zip'), oneLine(pattern), name);
  }
  assert.throws(() => decodeOmniglotFiles([['../x/y/z.png', png]], { source: 'dir' }), oneLine(/contains '\.\.'/));
});

test('hostile archives: a huge declared size or too many entries is refused up front', () => {
  const files = omniglotFiles('images_background', { Latin: 2 });
  const bytes = zip(files);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Declare 150 MB for two entries: 300 MB in all, beyond the 200 MiB limit.
  const huge = bytes.slice();
  const hugeView = new DataView(huge.buffer);
  for (const at of centralEntries(huge).slice(0, 2)) hugeView.setUint32(at + 24, 150_000_000, true);
  assert.throws(() => decodeOmniglotArchive(huge, { source: 'bomb.zip' }), oneLine(/^bomb\.zip: the entries declare more than 209715200 bytes uncompressed \(200 MiB\); refusing the archive$/));
  // A tighter limit from the caller.
  assert.throws(() => readZip(bytes, 'a.zip', { maxTotalBytes: 100 }), oneLine(/declare more than 100 bytes/));
  // Too many entries: checked from the end record, before the central directory is read.
  assert.throws(() => readZip(bytes, 'many.zip', { maxEntries: 3 }), oneLine(/^many\.zip: the archive lists 4 entries, more than the 3 allowed; refusing it$/));
  const many = bytes.slice();
  const eocd = many.length - 22;
  assert.equal(view.getUint32(eocd, true), 0x06054b50);
  new DataView(many.buffer).setUint16(eocd + 10, 65535, true);
  assert.throws(() => readZip(many, 'many.zip', { maxEntries: 60000 }), oneLine(/lists 65535 entries/));
});

test('an entry that inflates beyond its declared size, or is corrupt, is stopped and named', () => {
  const files = omniglotFiles('images_background', { Latin: 1 }, 1);
  const bytes = zip(files);
  const [entry] = centralEntries(bytes);
  const lying = bytes.slice();
  new DataView(lying.buffer).setUint32(entry + 24, 10, true);
  assert.throws(() => decodeOmniglotArchive(lying, { source: 'lie.zip' }), oneLine(/^lie\.zip: entry "images_background\/Latin\/character01\/0001_01\.png" inflates to more than its declared 10 bytes/));
  const crc = bytes.slice();
  new DataView(crc.buffer).setUint32(entry + 16, 12345, true);
  assert.throws(() => decodeOmniglotArchive(crc, { source: 'crc.zip' }), oneLine(/^crc\.zip: entry ".*0001_01\.png" is corrupt \(CRC-32 mismatch\)/));
});
