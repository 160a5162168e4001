/**
 * The train settings the experiments and `reptile tune` rely on: a finite pool of training tasks
 * (--train-tasks), a subset of training classes (--train-classes), and evaluation on validation
 * tasks (--eval-split validation) that never touches the test split.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/rng.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { TaskPool } from '../src/tasks/task-pool.js';
import { assertOneLineUsageError, cliWith, readJson, readJsonLines } from './support/cli.js';
import { OMNIGLOT_DATA as DATA, omniglotRequirement } from './support/require.js';

const skipOmniglot = omniglotRequirement();

let root: string;
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_CACHE_DIR: join(root, 'cache'), REPTILE_DEBUG: '' } }));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-pool-split-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('TaskPool: every training task is one of the pool, all of them are used; evaluation tasks are new', () => {
  const sine = new SineDistribution();
  const pool = new TaskPool(sine, 3, Rng.fromSeed(1));
  const rng = Rng.fromSeed(2);
  const seen = new Set<unknown>();
  for (let i = 0; i < 200; i++) seen.add(pool.sampleTrainTask(rng));
  assert.equal(seen.size, 3);
  const firstY = (e: { y: Float32Array | Int32Array }) => e.y[0];
  const poolFirsts = new Set([...seen].map((e) => firstY(e as { y: Float32Array })));
  const evalTask = pool.sampleEvalTask(Rng.fromSeed(3));
  assert.equal(evalTask.query.count, 50);
  assert.ok(!poolFirsts.has(evalTask.query.y[0]), 'an evaluation task equal to a pool task');
  // The same pool stream draws the same pool.
  const again = new TaskPool(sine, 3, Rng.fromSeed(1));
  const againFirsts = new Set(Array.from({ length: 100 }, () => firstY(again.sampleTrainTask(rng))));
  assert.deepEqual([...againFirsts].sort(), [...poolFirsts].sort());
  assert.throws(() => new TaskPool(sine, 0, Rng.fromSeed(0)), /size >= 1/);
});

const TINY_SINE = ['--meta-iters', '20', '--eval-interval', '10', '--eval-interval-samples', '5', '--eval-samples', '20', '--baseline', 'none'];

test('train sine --eval-split validation scores other tasks than the test split, and records the split', async () => {
  await runOk(['train', 'sine', ...TINY_SINE, '--out', join(root, 'test-split')]);
  await runOk(['train', 'sine', ...TINY_SINE, '--eval-split', 'validation', '--out', join(root, 'validation-split')]);
  const test = await readJson(join(root, 'test-split', 'summary.json'));
  const validation = await readJson(join(root, 'validation-split', 'summary.json'));
  assert.equal(test.eval.split, 'test');
  assert.equal(validation.eval.split, 'validation');
  // Same seed, same training: only the evaluation tasks differ (their mean square before adaptation).
  assert.notEqual(test.eval.mseBefore, validation.eval.mseBefore);
  assert.equal((await readJson(join(root, 'validation-split', 'config.json'))).evalSplit, 'validation');
});

test('train sine --train-tasks 5 trains on a pool: recorded, and a different result than fresh tasks', async () => {
  await runOk(['train', 'sine', ...TINY_SINE, '--train-tasks', '5', '--out', join(root, 'pool')]);
  const pooled = await readJson(join(root, 'pool', 'summary.json'));
  const fresh = await readJson(join(root, 'test-split', 'summary.json'));
  assert.equal((await readJson(join(root, 'pool', 'config.json'))).trainTasks, 5);
  assert.equal(pooled.eval.mseBefore === fresh.eval.mseBefore && pooled.eval.mseAfter === fresh.eval.mseAfter, false);
  const r = await runCli(['train', 'omniglot', '--train-tasks', '5', '--out', join(root, 'never')]);
  assertOneLineUsageError(r, ['--train-tasks', 'sine'], 'train-tasks on omniglot');
});

test('train omniglot --eval-split validation: needs a validation split; evaluates only train and validation tasks', { skip: skipOmniglot }, async () => {
  const tiny = ['--data', DATA, '--model', 'mlp', '--meta-iters', '2', '--eval-interval', '1', '--eval-interval-samples', '2', '--eval-samples', '3', '--eval-iters', '2'];
  const refused = await runCli(['train', 'omniglot', ...tiny, '--eval-split', 'validation', '--out', join(root, 'no-validation')]);
  assertOneLineUsageError(refused, ['--eval-split validation', '--split maml'], 'reptile split has no validation');
  await runOk(['train', 'omniglot', ...tiny, '--split', 'maml', '--eval-split', 'validation', '--train-classes', '10', '--out', join(root, 'omni-validation')]);
  const summary = await readJson(join(root, 'omni-validation', 'summary.json'));
  assert.equal(summary.eval.split, 'validation');
  assert.equal(summary.eval.validation, undefined);
  const metrics = await readJsonLines(join(root, 'omni-validation', 'metrics.jsonl'));
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    assert.ok(Number.isFinite(m.validationAccuracy));
    assert.equal('testAccuracy' in m, false, 'the test split was evaluated');
  }
  const tooFew = await runCli(['train', 'omniglot', ...tiny, '--train-classes', '3', '--out', join(root, 'too-few')]);
  assertOneLineUsageError(tooFew, ['--train-classes 3', '5-way'], 'fewer classes than ways');
});
