/**
 * `reptile train --workers 2` when a worker thread fails: worker thread 1 throws in the middle of
 * a request (the test hook REPTILE_TEST_WORKER_THROW, docs/cli.md). The run ends with one error
 * line naming the worker and exit code 1, no stack trace and no hang; it leaves its last
 * checkpoint, and `--resume` (without the hook) finishes with the results of the same run
 * uninterrupted. The hook where no worker thread runs is a one-line usage error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLineUsageError, assertSameResults, checkpointAt, cliWith, killRunningClis } from './support/cli.js';

/** Four tasks per meta-iteration on 2 threads (the main one and worker thread 1), adapted with tfjs ops. */
const FLAGS = ['sine', '--workers', '2', '--meta-batch', '4', '--inner-loop', 'tfjs', '--meta-iters', '20', '--eval-interval', '5', '--eval-samples', '5', '--eval-interval-samples', '2', '--eval-iters', '8', '--checkpoint-interval', '5', '--baseline', 'none', '--seed', '3'];

let root: string;
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_DEBUG: '', REPTILE_TEST_WORKER_THROW: undefined } }));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-workers-'));
});

after(async () => {
  killRunningClis();
  await rm(root, { recursive: true, force: true });
});

test('worker thread 1 throws in its 12th request: one error line naming it, exit code 1, a checkpoint; --resume finishes as if nothing failed', async () => {
  const [a, b] = [join(root, 'A'), join(root, 'B')];
  const [reference, failed] = await Promise.all([
    runOk(['train', ...FLAGS, '--out', a]),
    runCli(['train', ...FLAGS, '--out', b], { env: { REPTILE_DEBUG: '', REPTILE_TEST_WORKER_THROW: '12' } }),
  ]);
  assert.match(reference.stdout, /in 2 worker threads/, 'the pool ran');
  assert.equal(failed.code, 1, `exit code ${failed.signal ?? failed.code}\nstderr: ${failed.stderr}`);
  // Progress lines go to stderr too; the failure is one line, the last, without a stack trace.
  const lines = failed.stderr.trimEnd().split('\n');
  const errors = lines.filter((l) => l.startsWith('error'));
  assert.deepEqual(errors, [lines.at(-1)], `one error line, the last:\n${failed.stderr}`);
  assert.match(errors[0], /^error: adaptation worker 1 failed: .*request 12/);
  assert.doesNotMatch(failed.stderr, /\n\s+at /, 'no stack trace');
  // The 12th meta-iteration failed: the checkpoint is the one at 10, and the run is unfinished.
  assert.deepEqual(checkpointAt(b), { phase: 0, iteration: 10 });
  assert.ok(!existsSync(join(b, 'summary.json')));

  const resumed = await runOk(['train', '--resume', b]);
  assert.match(resumed.stdout, /in 2 worker threads/, 'the resumed run uses the pool again');
  await assertSameResults(a, b);
});

test('REPTILE_TEST_WORKER_THROW where no worker thread adapts tasks, or malformed, is a one-line usage error', async () => {
  const cases: { name: string; args: string[]; value: string; mentions: (string | RegExp)[] }[] = [
    { name: 'one thread', args: ['train', ...FLAGS, '--workers', '0'], value: '3', mentions: ['REPTILE_TEST_WORKER_THROW=3', '--workers'] },
    { name: 'one task per meta-iteration', args: ['train', ...FLAGS, '--meta-batch', '1'], value: '3', mentions: ['REPTILE_TEST_WORKER_THROW=3', '--meta-batch'] },
    { name: 'not a number', args: ['train', ...FLAGS], value: 'soon', mentions: ['REPTILE_TEST_WORKER_THROW=soon', 'request number'] },
  ];
  const results = await Promise.all(cases.map((c, i) => runCli([...c.args, '--out', join(root, `usage-${i}`)], { env: { REPTILE_DEBUG: '', REPTILE_TEST_WORKER_THROW: c.value } })));
  results.forEach((r, i) => {
    assertOneLineUsageError(r, cases[i].mentions, cases[i].name);
    assert.ok(!existsSync(join(root, `usage-${i}`)), `${cases[i].name}: no run directory`);
  });
});
