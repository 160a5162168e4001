/**
 * `reptile experiment`: the statistics of its tables, cell identity, and tiny end-to-end runs
 * that write the report folder, skip finished runs when re-run and redo a half-written one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedStats } from '../src/cli/experiment/seed-stats.js';
import { cellHash, cellId } from '../src/cli/experiment/cells.js';
import { assertOneLineUsageError, cliWith, hashTree, readJson } from './support/cli.js';

let root: string;
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_DEBUG: '' } }));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-experiment-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('seedStats: mean and Student-t 95% CI over runs, computed by hand', () => {
  // Sample sd of 1, 2, 3 is 1; t(0.975, 2) = 4.302653; half-width 4.302653 / sqrt(3).
  const s = seedStats([1, 2, 3]);
  assert.equal(s.n, 3);
  assert.equal(s.mean, 2);
  assert.ok(Math.abs(s.ci95 - 4.302653 / Math.sqrt(3)) < 1e-5, String(s.ci95));
  // Two values 0 and 2: sd sqrt(2), t(0.975, 1) = 12.7062; half-width 12.7062 * sqrt(2) / sqrt(2).
  assert.ok(Math.abs(seedStats([0, 2]).ci95 - 12.7062) < 1e-3);
  const one = seedStats([5, NaN]);
  assert.deepEqual([one.n, one.mean], [1, 5]);
  assert.ok(Number.isNaN(one.ci95));
});

test('cells: equal settings are one run whatever the labels or key order; the id names labels and seed', () => {
  const a = { benchmark: 'sine' as const, labels: { sweep: 'meta-batch', point: 1 }, settings: { seed: 0, metaIters: 10, metaBatch: 1 } };
  const b = { benchmark: 'sine' as const, labels: { sweep: 'tasks', point: 'all' }, settings: { metaBatch: 1, metaIters: 10, seed: 0 } };
  assert.equal(cellHash(a), cellHash(b));
  assert.notEqual(cellHash(a), cellHash({ ...a, settings: { ...a.settings, seed: 1 } }));
  assert.match(cellId(a), /^sine-meta-batch-1-s0-[0-9a-f]{10}$/);
});

const TINY = ['--benchmarks', 'sine', '--seeds', '1', '--sine-meta-iters', '10', '--sine-eval-samples', '5', '--jobs', '2'];

test('experiment tasks: report folder with one row per run, every hyperparameter, tables and charts; a re-run skips finished runs and redoes a half-written one', async () => {
  const out = join(root, 'tasks');
  const first = await runOk(['experiment', 'tasks', ...TINY, '--out', out]);
  assert.match(first.stdout, /7 runs/);
  const rows = await readJson(join(out, 'results.json'));
  // 4 pool sizes + 4 meta-batches; meta-batch 1 with all tasks is the same run as pool "all".
  assert.equal(rows.length, 8);
  for (const row of rows) {
    assert.equal(row.status, 'done');
    assert.ok(Number.isFinite(row.value) && row.value > 0);
    for (const key of ['learningRate', 'innerIters', 'innerBatch', 'metaStep', 'metaBatch', 'metaIters', 'seed', 'trainTasks', 'evalSamples', 'tfjsVersion']) assert.ok(key in row, `row lacks ${key}`);
  }
  assert.deepEqual(rows.filter((r: any) => r.sweep === 'meta-batch').map((r: any) => r.metaBatch), [1, 2, 5, 10]);
  assert.deepEqual(rows.filter((r: any) => r.sweep === 'training tasks').map((r: any) => r.trainTasks), [10, 50, 200, 0]);
  const csv = (await readFile(join(out, 'results.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv.length, 9);
  assert.ok(csv[0].split(',').includes('learningRate'));
  const report = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(report, /\| training tasks +\| MSE after adaptation, mean \+- 95% CI +\|/);
  assert.match(report, /!\[.*\]\(charts\/sine-tasks\.svg\)/);
  for (const f of ['sine-tasks.svg', 'sine-tasks.png']) assert.ok(existsSync(join(out, 'charts', f)), f);

  // A half-written run (no summary.json) is redone; the finished ones are not touched.
  const halfWritten = rows.find((r: any) => r.sweep === 'meta-batch' && r.point === 2).cell;
  await rm(join(out, 'cells', halfWritten, 'summary.json'));
  const before = await hashTree(join(out, 'cells'));
  const second = await runOk(['experiment', 'tasks', ...TINY, '--out', out]);
  assert.match(second.stdout, /\[1\/7\] .*meta-batch-2/);
  assert.doesNotMatch(second.stdout, /\[2\/7\]/);
  const afterHashes = await hashTree(join(out, 'cells'));
  for (const [file, hash] of before) if (!file.startsWith(halfWritten)) assert.equal(afterHashes.get(file), hash, `${file} changed`);
  assert.ok(existsSync(join(out, 'cells', halfWritten, 'summary.json')));
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /7 runs \(6 finished earlier and reused\)/);
});

test('experiment baselines: a finished row for each of the five algorithms, in the report, and learning curves', async () => {
  const out = join(root, 'baselines');
  await runOk(['experiment', 'baselines', ...TINY, '--out', out]);
  const rows = await readJson(join(out, 'results.json'));
  const report = await readFile(join(out, 'report.md'), 'utf8');
  const algorithms = ['reptile', 'fomaml', 'maml', 'scratch', 'joint'];
  // One seed, one benchmark: exactly one row per algorithm, each finished with a number.
  assert.deepEqual(rows.map((r: any) => r.algorithm).sort(), [...algorithms].sort());
  for (const row of rows) {
    assert.equal(row.algorithm, row.cell.split('-')[1]);
    assert.equal(row.status, 'done', `${row.algorithm}: ${row.status}`);
    assert.ok(Number.isFinite(row.value) && row.value > 0, `${row.algorithm}: value ${row.value}`);
    assert.ok(existsSync(join(out, 'cells', row.cell, 'summary.json')), `${row.cell}/summary.json`);
  }
  assert.doesNotMatch(report, /Not run/);
  for (const algorithm of algorithms) assert.match(report, new RegExp(`\\|\\s*${algorithm}\\b`), `report.md has a row for ${algorithm}`);
  assert.ok(existsSync(join(out, 'charts', 'sine-learning-curves.png')));
});

test('experiment: bad input is one line and exit code 2, nothing written', async () => {
  assertOneLineUsageError(await runCli(['experiment', 'nope', '--out', join(root, 'x')]), ['nope'], 'unknown experiment');
  assertOneLineUsageError(await runCli(['experiment', 'tasks', '--data', join(root, 'absent'), '--out', join(root, 'x')]), ['--data', 'no such directory'], 'missing data');
  assertOneLineUsageError(await runCli(['experiment', 'tasks', '--jobs', '0', '--out', join(root, 'x')]), ['--jobs'], 'jobs 0');
  assert.equal(existsSync(join(root, 'x')), false);
});
