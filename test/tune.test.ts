/**
 * `reptile tune`: search spaces from JSON or YAML (grid, seeded random), trials scored on
 * validation tasks only, the ranking, and a best configuration that `reptile train --config` runs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gridPoints, parseSearchSpace, randomPoints } from '../src/cli/tune/search-space.js';
import { assertOneLineUsageError, cliWith, hashTree, readJson } from './support/cli.js';

/** Every file under `dir`: its content hash and modification time (to tell a rewrite with the same bytes). */
async function treeState(dir: string): Promise<Map<string, { hash: string; mtimeMs: number }>> {
  const state = new Map<string, { hash: string; mtimeMs: number }>();
  for (const [file, hash] of await hashTree(dir)) state.set(file, { hash, mtimeMs: (await stat(join(dir, file))).mtimeMs });
  return state;
}

let root: string;
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_DEBUG: '' } }));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-tune-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const YAML = `
search: random
trials: 50
seed: 3
base:
  metaIters: 10
space:
  learningRate: { min: 0.001, max: 0.1, log: true }
  innerIters: { min: 1, max: 10, integer: true }
  activation: [tanh, relu]
`;

test('search space: YAML and JSON read alike; random points are seeded, inside their ranges, and cover the lists; grid is every combination', () => {
  const yaml = parseSearchSpace(YAML, 'space.yaml');
  const json = parseSearchSpace(JSON.stringify({ search: 'random', trials: 50, seed: 3, base: { metaIters: 10 }, space: { learningRate: { min: 0.001, max: 0.1, log: true }, innerIters: { min: 1, max: 10, integer: true }, activation: ['tanh', 'relu'] } }), 'space.json');
  assert.deepEqual(yaml, json);
  const points = randomPoints(yaml, 50, 3);
  assert.deepEqual(points, randomPoints(yaml, 50, 3));
  assert.notDeepEqual(points, randomPoints(yaml, 50, 4));
  for (const p of points) {
    assert.ok((p.learningRate as number) >= 0.001 && (p.learningRate as number) <= 0.1);
    assert.ok(Number.isInteger(p.innerIters) && (p.innerIters as number) >= 1 && (p.innerIters as number) <= 10);
  }
  // Log-uniform: about as many draws below 0.01 (the geometric middle) as above.
  const below = points.filter((p) => (p.learningRate as number) < 0.01).length;
  assert.ok(below > 12 && below < 38, `${below} of 50 below the geometric middle`);
  assert.deepEqual(new Set(points.map((p) => p.activation)), new Set(['tanh', 'relu']));
  const grid = gridPoints(parseSearchSpace('space: { learningRate: [0.01, 0.02], innerIters: [1, 2, 3] }', 'g.yaml'), 'g.yaml');
  assert.equal(grid.length, 6);
  assert.deepEqual(grid[0], { learningRate: 0.01, innerIters: 1 });
  assert.deepEqual(grid[5], { learningRate: 0.02, innerIters: 3 });
  assert.throws(() => gridPoints(yaml, 'space.yaml'), /space\.learningRate is a range/);
  assert.throws(() => parseSearchSpace('space: { evalSplit: [test] }', 's.yaml'), /'evalSplit' is set by reptile tune/);
  assert.throws(() => parseSearchSpace('space: { learningRate: {min: 0, max: 1, log: true} }', 's.yaml'), /log range needs min > 0/);
  assert.throws(() => parseSearchSpace('space: [1, 2', 's.yaml'), /not valid JSON or YAML/);
});

test('tune sine: ranked trials scored on validation tasks; best-config.json runs with reptile train --config and is evaluated on test', async () => {
  const space = join(root, 'grid.json');
  await writeFile(space, JSON.stringify({ base: { metaIters: 15, evalSamples: 8 }, space: { learningRate: [0.002, 0.04] } }));
  const out = join(root, 'tune');
  const r = await runOk(['tune', 'sine', '--space', space, '--out', out, '--jobs', '2']);
  assert.match(r.stdout, /grid search, 2 trials/);
  const rows = await readJson(join(out, 'results.json'));
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((row: any) => row.rank), [1, 2]);
  for (const row of rows) {
    assert.equal(row.evalSplit, 'validation');
    const summary = await readJson(join(out, 'cells', row.cell, 'summary.json'));
    assert.equal(summary.eval.split, 'validation');
  }
  assert.ok(rows[0].value <= rows[1].value, 'ranked by validation MSE, lowest first');
  const best = await readJson(join(out, 'best-config.json'));
  assert.deepEqual(best, { benchmark: 'sine', metaIters: 15, evalSamples: 8, learningRate: rows[0].learningRate });
  const report = await readFile(join(out, 'report.md'), 'utf8');
  assert.match(report, /\| rank +\| trial +\| learningRate +\|/);
  assert.ok(existsSync(join(out, 'charts', 'trials.png')));

  await runOk(['train', 'sine', '--config', join(out, 'best-config.json'), '--baseline', 'none', '--eval-interval', '0', '--out', join(root, 'best-run')]);
  const config = await readJson(join(root, 'best-run', 'config.json'));
  assert.equal(config.learningRate, best.learningRate);
  assert.equal((await readJson(join(root, 'best-run', 'summary.json'))).eval.split, 'test');

  // A re-run finds every trial finished: no file of any trial is rewritten (content and mtime).
  const cells = join(out, 'cells');
  const finished = await treeState(cells);
  await runOk(['tune', 'sine', '--space', space, '--out', out]);
  assert.deepEqual(await treeState(cells), finished, 'a re-run rewrote files of finished trials');
  const scores = (list: any[]) => list.map((row: any) => [row.cell, row.rank, row.value]);
  assert.deepEqual(scores(await readJson(join(out, 'results.json'))), scores(rows));

  // A half-written trial (killed before summary.json) is redone, the finished one left alone.
  const [kept, half] = rows.map((row: any) => row.cell as string);
  await rm(join(cells, half, 'summary.json'));
  await runOk(['tune', 'sine', '--space', space, '--out', out]);
  const after = await treeState(cells);
  for (const [file, state] of finished) {
    if (file.startsWith(`${kept}/`)) assert.deepEqual(after.get(file), state, `${file} of the finished trial changed`);
  }
  assert.ok(after.has(`${half}/summary.json`), 'the half-written trial was run again');
  assert.notDeepEqual(after.get(`${half}/config.json`)?.mtimeMs, finished.get(`${half}/config.json`)?.mtimeMs, 'the half-written trial was retrained, not patched');
  assert.deepEqual(scores(await readJson(join(out, 'results.json'))), scores(rows), 'the redone trial scores what it scored before');
});

test('tune: bad input is one line naming the file or flag, exit code 2', async () => {
  const ranged = join(root, 'ranged.yaml');
  await writeFile(ranged, 'space:\n  learningRate: { min: 0.01, max: 0.1 }\n');
  assertOneLineUsageError(await runCli(['tune', 'sine', '--space', ranged, '--out', join(root, 'x')]), [ranged, 'grid search cannot enumerate'], 'range in grid');
  const unknown = join(root, 'unknown.yaml');
  await writeFile(unknown, 'space:\n  learningRat: [0.01]\n');
  assertOneLineUsageError(await runCli(['tune', 'sine', '--space', unknown, '--out', join(root, 'x')]), [unknown, "unknown setting 'learningRat'"], 'unknown setting');
  assertOneLineUsageError(await runCli(['tune', 'sine', '--space', join(root, 'absent.yaml'), '--out', join(root, 'x')]), ['--space', 'cannot read'], 'missing file');
  assertOneLineUsageError(await runCli(['tune', 'sine', '--out', join(root, 'x')]), ['--space'], 'no --space');
  assert.equal(existsSync(join(root, 'x')), false);
});
