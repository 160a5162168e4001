/**
 * `reptile compare A.json B.json` (src/cli/compare-command.ts) and pairedDifference: the mean
 * difference of per-task accuracies and its 95% interval by hand, the verdict, and usage errors
 * for files that were not evaluated on the same tasks or carry no per-task accuracies; and the
 * whole workflow on real files: two tiny Omniglot runs, `reptile eval --json` of each, compared.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pairedDifference } from '../src/eval/stats.js';
import { assertOneLineUsageError, cliWith, readJson, runCli } from './support/cli.js';

// dist/test/<this>.js -> the repository root is two levels up; the archives beside it in ../shared.
const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data', 'omniglot');
const present = existsSync(join(DATA, 'images_background.zip')) && existsSync(join(DATA, 'images_evaluation.zip'));

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

test('compare on real `reptile eval --json` files: the printed difference is the one of their per-task accuracies; other tasks are refused', { skip: present ? false : `the Omniglot archives are not at ${DATA}`, timeout: 600_000 }, async () => {
  const cache = join(dir, 'cache');
  await mkdir(cache, { recursive: true });
  const cli = cliWith(() => ({ env: { REPTILE_CACHE_DIR: cache, REPTILE_DEBUG: '' } }));
  // Two tiny Omniglot MLP runs that differ in their training seed, evaluated on the same tasks (--seed 7).
  const tiny = ['--model', 'mlp', '--meta-iters', '3', '--eval-interval', '0', '--eval-samples', '2', '--eval-iters', '2', '--baseline', 'none', '--data', DATA];
  const evalArgs = ['--seed', '7', '--eval-samples', '12', '--eval-iters', '3'];
  const paths: string[] = [];
  for (const seed of ['0', '1']) {
    const run = join(dir, `run-${seed}`);
    await cli.runOk(['train', 'omniglot', ...tiny, '--seed', seed, '--out', run]);
    paths.push(join(dir, `eval-${seed}.json`));
    await cli.runOk(['eval', run, ...evalArgs, '--json', paths[paths.length - 1]]);
  }
  const [a, b] = [await readJson(paths[0]), await readJson(paths[1])];
  for (const f of [a, b]) {
    // 12 tasks of 5 queries (one per class): each task's accuracy is k/5, and their mean is the accuracy.
    assert.equal(f.eval.taskAccuracies.length, 12);
    for (const x of f.eval.taskAccuracies) assert.ok(Number.isInteger(Math.round(x * 5)) && Math.abs(x * 5 - Math.round(x * 5)) < 1e-9 && x >= 0 && x <= 1, `task accuracy ${x}`);
    assert.ok(Math.abs(f.eval.accuracy - f.eval.taskAccuracies.reduce((s: number, x: number) => s + x, 0) / 12) < 1e-12);
  }
  assert.notDeepEqual(a.eval.taskAccuracies, b.eval.taskAccuracies, 'the two runs score differently on some task (else the difference would be 0 whatever compare does)');

  // The paired difference, by hand: mean of a_i - b_i, and 1.96 (population std) / sqrt(n).
  const d = a.eval.taskAccuracies.map((x: number, i: number) => x - b.eval.taskAccuracies[i]);
  const mean = d.reduce((s: number, x: number) => s + x, 0) / d.length;
  const half = (1.96 * Math.sqrt(d.reduce((s: number, x: number) => s + (x - mean) ** 2, 0) / d.length)) / Math.sqrt(d.length);
  const r = await runCli(['compare', paths[0], paths[1]]);
  assert.equal(r.code, 0, r.stderr);
  const points = (x: number) => (100 * x).toFixed(2);
  const line = /^A - B: ([+-]\d+\.\d\d) \+- (\d+\.\d\d) points, paired over the same (\d+) tasks/m.exec(r.stdout);
  assert.ok(line, r.stdout);
  assert.equal(Number(line[1]).toFixed(2), points(mean), `the mean difference (${r.stdout})`);
  assert.equal(line[2], points(half), `its 95% interval (${r.stdout})`);
  assert.equal(line[3], '12');
  assert.match(r.stdout, new RegExp(`^A: reptile ${points(a.eval.accuracy)}% \\+- ${points(a.eval.ci95)}%`, 'm'));
  assert.match(r.stdout, new RegExp(`^B: reptile ${points(b.eval.accuracy)}% \\+- ${points(b.eval.ci95)}%`, 'm'));
  const verdict = mean - half > 0 ? 'A is better' : mean + half < 0 ? 'B is better' : 'no difference';
  assert.ok(r.stdout.includes(verdict), `verdict ${verdict}: ${r.stdout}`);

  // Evaluations of other tasks: another evaluation seed, other shots.
  const otherSeed = join(dir, 'eval-1-seed8.json');
  const otherShots = join(dir, 'eval-1-5shot.json');
  await cli.runOk(['eval', join(dir, 'run-1'), ...evalArgs, '--seed', '8', '--json', otherSeed]);
  await cli.runOk(['eval', join(dir, 'run-1'), ...evalArgs, '--shots', '5', '--json', otherShots]);
  assertOneLineUsageError(await runCli(['compare', paths[0], otherSeed]), ['not evaluated on the same tasks', 'seed'], 'another evaluation seed');
  assertOneLineUsageError(await runCli(['compare', paths[0], otherShots]), ['not evaluated on the same tasks', 'shots'], 'other shots');
});
