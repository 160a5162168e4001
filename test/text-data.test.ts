/**
 * Text data (src/data/text.ts, src/data/text-splits.ts, src/io/text-files.ts): CLINC150 and
 * BANKING77 loaders on small fixture files and on the real data in ../shared/data/text (counts as
 * PROVENANCE.txt states them), clear errors for malformed files, user example files (CSV with
 * quotes, JSON), class splits that are disjoint, cover every intent, and are fixed by the seed,
 * and few-shot text episodes through FewShotClassification.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/rng.js';
import { DatasetError } from '../src/data/errors.js';
import { parseBanking77, parseClinc150, parseLabelledExamples, textExampleClasses, type TextDataset } from '../src/data/text.js';
import { splitTextClasses } from '../src/data/text-splits.js';
import { loadBanking77, loadClinc150, loadLabelledExamples } from '../src/io/text-files.js';
import { FewShotClassification } from '../src/tasks/few-shot.js';
import { DEFAULT_TOKENIZER, tokenizer } from '../src/text/tokenizer.js';

const SHARED = new URL('../../../shared/data/text/', import.meta.url).pathname;

const clincFixture = JSON.stringify({
  train: [['book a flight', 'book_flight'], ['what is my balance', 'balance'], ['fly me to rome', 'book_flight']],
  val: [['balance please', 'balance']],
  test: [['how much money do i have', 'balance']],
  oos_train: [['tell me a joke about cats', 'oos']],
  oos_val: [],
  oos_test: [],
});

test('CLINC150 fixture: splits pooled per intent (name order), out-of-scope kept apart', () => {
  const data = parseClinc150(clincFixture);
  assert.deepEqual(data.classes, [
    { name: 'balance', texts: ['what is my balance', 'balance please', 'how much money do i have'] },
    { name: 'book_flight', texts: ['book a flight', 'fly me to rome'] },
  ]);
  assert.deepEqual(data.outOfScope, ['tell me a joke about cats']);
});

test('malformed CLINC150 and BANKING77 files are DatasetErrors naming the file and the place', () => {
  const bad = (content: string, pattern: RegExp) => assert.throws(() => parseClinc150(content, 'x.json'), (e: Error) => e instanceof DatasetError && pattern.test(e.message) && e.message.startsWith('x.json'));
  bad('{"train": [', /not valid JSON/);
  bad('[]', /expected a JSON object/);
  bad('{"train": [], "val": []}', /key 'test'/);
  bad('{"train": [["a", "b", "c"]], "val": [], "test": []}', /train\[0\]/);
  bad('{"train": [["a", 3]], "val": [], "test": []}', /train\[0\]/);
  const csv = (content: string, pattern: RegExp) => assert.throws(() => parseBanking77([{ file: 'b.csv', content }]), (e: Error) => e instanceof DatasetError && pattern.test(e.message) && e.message.startsWith('b.csv'));
  csv('text,label\nhi,a\n', /no column 'category'/);
  csv('text,category\n"unclosed,a\n', /not valid CSV/);
  csv('text,category\nhello,\n', /row 2 has an empty category/);
  csv('', /no rows/);
});

test('BANKING77 fixture: quoted texts with commas and quotes, both files pooled', () => {
  const data = parseBanking77([
    { file: 'train.csv', content: 'text,category\n"Hi, my card ""broke""",card_arrival\nwhere is it,card_arrival\n' },
    { file: 'test.csv', content: 'text,category\nI lost my PIN,pin_blocked\n' },
  ]);
  assert.deepEqual(data.classes, [
    { name: 'card_arrival', texts: ['Hi, my card "broke"', 'where is it'] },
    { name: 'pin_blocked', texts: ['I lost my PIN'] },
  ]);
});

test('user example files: CSV (label, category or intent column) and JSON (objects or pairs)', async () => {
  assert.deepEqual(parseLabelledExamples('\uFEFFlabel,text\nx,"a, b"\ny,c\n', 'e.csv'), [{ text: 'a, b', label: 'x' }, { text: 'c', label: 'y' }]);
  assert.deepEqual(parseLabelledExamples('text,intent\na,x\n', 'e.csv'), [{ text: 'a', label: 'x' }]);
  assert.deepEqual(parseLabelledExamples(' [{"text": "a", "label": "x"}, ["b", "y"]]', 'e.json'), [{ text: 'a', label: 'x' }, { text: 'b', label: 'y' }]);
  assert.throws(() => parseLabelledExamples('text,foo\na,b\n', 'e.csv'), /no column 'label'/);
  assert.throws(() => parseLabelledExamples('[{"text": "a"}]', 'e.json'), /item 0/);
  assert.throws(() => parseLabelledExamples('[]', 'e.json'), /no examples/);
  assert.throws(() => parseLabelledExamples('{"text": "a"}', 'e.json'), /expected a JSON list/);
  const dir = await mkdtemp(join(tmpdir(), 'reptile-text-'));
  try {
    await writeFile(join(dir, 'e.csv'), 'text,label\nhello,greet\n');
    assert.deepEqual(await loadLabelledExamples(join(dir, 'e.csv')), [{ text: 'hello', label: 'greet' }]);
    await assert.rejects(loadLabelledExamples(join(dir, 'none.csv')), (e: Error) => e instanceof DatasetError && /ENOENT/.test(e.message));
    // Loaders from fixture folders, and clear errors for missing files.
    await writeFile(join(dir, 'data_full.json'), clincFixture);
    assert.equal((await loadClinc150(dir)).data.classes.length, 2);
    assert.equal((await loadClinc150(join(dir, 'data_full.json'))).domains, undefined);
    await assert.rejects(loadClinc150(join(dir, 'missing')), /no such file or directory/);
    await assert.rejects(loadBanking77(dir), /no train\.csv or test\.csv/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function assertDisjointCover(data: TextDataset, parts: { train: { name: string }[]; validation: { name: string }[]; test: { name: string }[] }) {
  const names = [...parts.train, ...parts.validation, ...parts.test].map((c) => c.name);
  assert.equal(new Set(names).size, names.length, 'no intent in two parts');
  assert.deepEqual([...names].sort(), data.classes.map((c) => c.name).sort(), 'every intent in some part');
}

test('the real CLINC150: 150 intents x 150 examples, 1200 out-of-scope; intent and domain splits disjoint and seeded', async () => {
  const { data, domains } = await loadClinc150(join(SHARED, 'clinc150'));
  assert.equal(data.classes.length, 150);
  assert.ok(data.classes.every((c) => c.texts.length === 150));
  assert.equal(data.outOfScope!.length, 1200);
  assert.equal(Object.keys(domains!).length, 10);
  const a = splitTextClasses(data, { scheme: 'intents', seed: 0 });
  assert.deepEqual([a.train.length, a.validation.length, a.test.length], [90, 30, 30]);
  assertDisjointCover(data, a);
  const again = splitTextClasses(data, { scheme: 'intents', seed: 0 });
  assert.deepEqual(again.test.map((c) => c.name), a.test.map((c) => c.name), 'same seed, same split');
  const other = splitTextClasses(data, { scheme: 'intents', seed: 1 });
  assert.notDeepEqual(other.test.map((c) => c.name), a.test.map((c) => c.name), 'another seed, another split');
  const d = splitTextClasses(data, { scheme: 'domains', seed: 0, domains });
  assertDisjointCover(data, d);
  assert.deepEqual([d.train.length, d.validation.length, d.test.length], [90, 30, 30]);
  const domainOf = new Map(Object.entries(domains!).flatMap(([dom, intents]) => intents.map((i) => [i, dom] as const)));
  const trainDomains = new Set(d.train.map((c) => domainOf.get(c.name)));
  for (const c of [...d.validation, ...d.test]) assert.ok(!trainDomains.has(domainOf.get(c.name)), `${c.name}'s domain is not a training domain`);
});

test('the real BANKING77: 77 intents, 13083 examples, at least 75 per intent; all-test split for cross-dataset evaluation', async () => {
  const data = await loadBanking77(join(SHARED, 'banking77'));
  assert.equal(data.classes.length, 77);
  assert.equal(data.classes.reduce((n, c) => n + c.texts.length, 0), 13083);
  assert.ok(Math.min(...data.classes.map((c) => c.texts.length)) >= 75);
  const all = splitTextClasses(data, { scheme: 'all', seed: 0 });
  assert.equal(all.test.length, 77);
  assert.equal(all.train.length, 0);
  const split = splitTextClasses(data, { scheme: 'intents', seed: 0 });
  assertDisjointCover(data, split);
  assert.throws(() => splitTextClasses(data, { scheme: 'domains', seed: 0 }), /domains file/);
});

test('text episodes: N-way K-shot with query examples per class, bags of the sampled texts', () => {
  const data = parseClinc150(JSON.stringify({
    train: Array.from({ length: 4 }, (_, c) => Array.from({ length: 8 }, (_, i) => [`intent ${c} example ${i}`, `i${c}`])).flat(),
    val: [],
    test: [],
  }));
  const tok = tokenizer({ ...DEFAULT_TOKENIZER, buckets: 32 });
  const tasks = new FewShotClassification('t', textExampleClasses(data.classes, tok), [32], { ways: 3, trainShots: 4, shots: 2, queryShots: 5 });
  const task = tasks.sampleEvalTask(Rng.fromSeed(1));
  assert.equal(task.support.count, 6);
  assert.equal(task.query.count, 15);
  assert.deepEqual([...task.query.y], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  for (let i = 0; i < task.query.count; i++) {
    const bag = task.query.x.subarray(i * 32, (i + 1) * 32);
    assert.ok(Math.abs(bag.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'each example is a bag summing to 1');
  }
  assert.throws(() => new FewShotClassification('t', textExampleClasses(data.classes, tok), [32], { ways: 3, trainShots: 4, shots: 4, queryShots: 5 }), /needs 9 examples/);
});
