/**
 * `reptile compare A.json B.json` (src/cli/compare-command.ts) and pairedDifference: the mean
 * difference of per-task accuracies and its 95% interval by hand, the verdict, and usage errors
 * for files that were not evaluated on the same tasks or carry no per-task accuracies.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairedDifference } from '../src/eval/stats.js';
import { assertOneLineUsageError, runCli } from './support/cli.js';

let dir: string;
const settings = { classes: 5, shots: 1, evalSamples: 4, seed: 1, evalSplit: 'test', queryShots: 5, data: 'd', textSplit: 'intents', splitSeed: 0, transductive: false };
const file = (name: string, algorithm: string, taskAccuracies: number[] | undefined, extra: Record<string, unknown> = {}) => {
  const mean = taskAccuracies ? taskAccuracies.reduce((a, b) => a + b, 0) / taskAccuracies.length : 0.5;
  return writeFile(join(dir, name), JSON.stringify({ runDir: `runs/${algorithm}`, benchmark: 'clinc150', algorithm, settings: { ...settings, ...extra }, eval: { accuracy: mean, ci95: 0.1, tasks: 4, taskAccuracies } }));
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-compare-'));
  await file('a.json', 'reptile', [0.8, 0.6, 1, 0.4]);
  await file('b.json', 'scratch', [0.6, 0.6, 0.8, 0.2]);
  await file('c.json', 'scratch', [0.8, 0.4, 1, 0.6]);
  await file('other-seed.json', 'scratch', [0.6, 0.6, 0.8, 0.2], { seed: 2 });
  await file('other-split.json', 'scratch', [0.6, 0.6, 0.8, 0.2], { splitSeed: 3 });
  await file('old.json', 'scratch', undefined);
});
after(() => rm(dir, { recursive: true, force: true }));

test('pairedDifference: the mean of a - b and 1.96 std / sqrt(n) of the differences (by hand)', () => {
  // Differences 0.2, 0, 0.2, 0.2: mean 0.15, population std sqrt(0.0075) = 0.0866.
  const d = pairedDifference([0.8, 0.6, 1, 0.4], [0.6, 0.6, 0.8, 0.2]);
  assert.ok(Math.abs(d.mean - 0.15) < 1e-12);
  assert.ok(Math.abs(d.ci95 - (1.96 * Math.sqrt(0.0075)) / 2) < 1e-12);
  assert.throws(() => pairedDifference([1], [1, 2]), RangeError);
});

test('compare: the paired difference and which is better beyond the interval', async () => {
  const better = await runCli(['compare', join(dir, 'a.json'), join(dir, 'b.json')]);
  assert.equal(better.code, 0, better.stderr);
  assert.match(better.stdout, /A: reptile 70\.00% \+- 10\.00% \(runs\/reptile\)/);
  assert.match(better.stdout, /A - B: \+15\.00 \+- 8\.49 points, paired over the same 4 tasks: A is better beyond the 95% interval/);
  const worse = await runCli(['compare', join(dir, 'b.json'), join(dir, 'a.json')]);
  assert.match(worse.stdout, /A - B: -15\.00 \+- 8\.49 points.*B is better/);
  // Differences 0, 0.2, 0, -0.2: mean 0, no verdict.
  const level = await runCli(['compare', join(dir, 'a.json'), join(dir, 'c.json')]);
  assert.match(level.stdout, /A - B: \+0\.00 \+- .* points.*no difference beyond the 95% interval/);
});

test('compare: evaluations of other tasks or without per-task accuracies are usage errors', async () => {
  assertOneLineUsageError(await runCli(['compare', join(dir, 'a.json'), join(dir, 'other-seed.json')]), ['not evaluated on the same tasks', 'seed'], 'other seed');
  assertOneLineUsageError(await runCli(['compare', join(dir, 'a.json'), join(dir, 'other-split.json')]), ['not evaluated on the same tasks', 'splitSeed'], 'other class split');
  assertOneLineUsageError(await runCli(['compare', join(dir, 'a.json'), join(dir, 'old.json')]), ['old.json', 'taskAccuracies'], 'no per-task values');
  assertOneLineUsageError(await runCli(['compare', join(dir, 'a.json'), join(dir, 'missing.json')]), ['missing.json', 'ENOENT'], 'missing file');
});
