/**
 * Atomic writes and the run directory: a failed write never damages the file it replaces nor
 * leaves a temporary file behind; an existing run is refused unless forced.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendJsonLine, writeFileAtomic, writeJsonAtomic } from '../src/io/files.js';
import { RunDir, RunDirError, holdsRun } from '../src/io/run-dir.js';

let dir: string;
let n = 0;

/** A fresh empty directory for one test. */
async function fresh(): Promise<string> {
  const d = join(dir, `case-${n++}`);
  await mkdir(d);
  return d;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-io-files-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  test('writes text and bytes, creating directories, and leaves no temporary file', async () => {
    const d = await fresh();
    await writeFileAtomic(join(d, 'a.txt'), 'hello\n');
    await writeFileAtomic(join(d, 'sub', 'deeper', 'b.bin'), new Uint8Array([0, 1, 2, 255]));
    assert.equal(await readFile(join(d, 'a.txt'), 'utf8'), 'hello\n');
    assert.deepEqual([...(await readFile(join(d, 'sub', 'deeper', 'b.bin')))], [0, 1, 2, 255]);
    assert.deepEqual((await readdir(d)).sort(), ['a.txt', 'sub']);
    assert.deepEqual(await readdir(join(d, 'sub', 'deeper')), ['b.bin']);
  });

  test('replaces an existing file and leaves no temporary file', async () => {
    const d = await fresh();
    const target = join(d, 'config.json');
    await writeFile(target, 'old contents, longer than the new ones\n');
    await writeJsonAtomic(target, { a: 1 });
    assert.deepEqual(JSON.parse(await readFile(target, 'utf8')), { a: 1 });
    assert.deepEqual(await readdir(d), ['config.json']);
  });

  test('a write that fails part-way leaves the existing file intact and no temporary file', async () => {
    const d = await fresh();
    const target = join(d, 'summary.json');
    await writeFile(target, '{"old": true}\n');
    // fs.writeFile accepts an iterable: this one yields some bytes and then fails, like a
    // process interrupted in the middle of writing.
    function* failing(): Generator<Uint8Array> {
      yield new TextEncoder().encode('{"new": tr');
      throw new Error('simulated failure in the middle of the write');
    }
    await assert.rejects(writeFileAtomic(target, failing() as unknown as Uint8Array), /simulated failure/);
    assert.equal(await readFile(target, 'utf8'), '{"old": true}\n');
    assert.deepEqual(await readdir(d), ['summary.json']);
  });

  test('a path whose directory is a file: rejected, the file is not damaged', async () => {
    const d = await fresh();
    const file = join(d, 'model');
    await writeFile(file, 'I am a file\n');
    await assert.rejects(writeFileAtomic(join(file, 'model.json'), '{}'), (error: NodeJS.ErrnoException) => ['ENOTDIR', 'EEXIST'].includes(error.code ?? ''));
    assert.equal(await readFile(file, 'utf8'), 'I am a file\n');
    assert.deepEqual(await readdir(d), ['model']);
  });

  test('a target that cannot be replaced (a non-empty directory): rejected, nothing changed, no temporary file', async () => {
    const d = await fresh();
    await mkdir(join(d, 'charts'));
    await writeFile(join(d, 'charts', 'keep.svg'), '<svg/>');
    await assert.rejects(writeFileAtomic(join(d, 'charts'), 'data'));
    assert.deepEqual(await readdir(d), ['charts']);
    assert.equal(await readFile(join(d, 'charts', 'keep.svg'), 'utf8'), '<svg/>');
  });
});

test('appendJsonLine adds one line and keeps the earlier ones', async () => {
  const d = await fresh();
  const file = join(d, 'metrics.jsonl');
  await appendJsonLine(file, { iteration: 1, elapsedSeconds: 0.5 });
  await appendJsonLine(file, { iteration: 2, elapsedSeconds: 1, note: 'a\nb' });
  const lines = (await readFile(file, 'utf8')).split('\n');
  assert.equal(lines.at(-1), '', 'ends with a newline');
  assert.deepEqual(lines.slice(0, -1).map((l) => JSON.parse(l)), [{ iteration: 1, elapsedSeconds: 0.5 }, { iteration: 2, elapsedSeconds: 1, note: 'a\nb' }]);
});

describe('RunDir', () => {
  test('creates the directory and writes config, metrics and summary', async () => {
    const d = join(await fresh(), 'run', 'nested');
    const run = await RunDir.create(d);
    await run.writeConfig({ seed: 1 });
    await run.appendMetrics({ iteration: 5, elapsedSeconds: 0.1, mseAfter: 2 });
    await run.writeSummary({ benchmark: 'sine' });
    assert.deepEqual((await readdir(d)).sort(), ['config.json', 'metrics.jsonl', 'summary.json']);
    assert.equal(holdsRun(d), true);
  });

  test('refuses a directory holding a run unless forced; forcing clears only the run files', async () => {
    const d = await fresh();
    const run = await RunDir.create(d);
    await run.writeConfig({ seed: 1 });
    await run.appendMetrics({ iteration: 1, elapsedSeconds: 0.1 });
    await writeFileAtomic(run.file('model/model.json'), '{}');
    await writeFile(join(d, 'notes.txt'), 'mine');

    await assert.rejects(RunDir.create(d), (error: Error) => {
      assert.ok(error instanceof RunDirError);
      assert.match(error.message, /--force/);
      return true;
    });
    assert.deepEqual((await readdir(d)).sort(), ['config.json', 'metrics.jsonl', 'model', 'notes.txt']);

    await RunDir.create(d, { force: true });
    assert.deepEqual(await readdir(d), ['notes.txt']);
    assert.equal(holdsRun(d), false);
  });

  test('a metrics file alone counts as a run (an interrupted run is not overwritten silently)', async () => {
    const d = await fresh();
    await writeFile(join(d, 'metrics.jsonl'), '{"iteration":1,"elapsedSeconds":0}\n');
    await assert.rejects(RunDir.create(d), RunDirError);
  });

  test('an --out that cannot be a directory is a RunDirError naming it', async () => {
    const d = await fresh();
    await writeFile(join(d, 'file'), 'x');
    for (const bad of [join(d, 'file'), join(d, 'file', 'below')]) {
      await assert.rejects(RunDir.create(bad), (error: Error) => {
        assert.ok(error instanceof RunDirError, `${error.name}: ${error.message}`);
        assert.ok(error.message.includes(bad), error.message);
        return true;
      });
    }
    assert.equal(await readFile(join(d, 'file'), 'utf8'), 'x');
  });
});
