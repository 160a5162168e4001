/**
 * `reptile train --algorithm reptile|fomaml|maml|scratch|joint` (and the original's --foml,
 * --foml-tail) on sine: each writes a run whose config.json and summary.json name the algorithm,
 * `reptile eval RUN_DIR` evaluates it, and settings an algorithm cannot use are usage errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLineUsageError, readJson, runCli, runOk } from './support/cli.js';

const TINY = ['--meta-iters', '6', '--eval-samples', '4', '--eval-interval', '3', '--eval-interval-samples', '2', '--eval-iters', '3', '--baseline', 'none'];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-cli-algorithms-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const algorithm of ['reptile', 'fomaml', 'maml', 'scratch', 'joint']) {
  test(`train sine --algorithm ${algorithm}: config, summary and eval name it`, async () => {
    const out = join(dir, algorithm);
    await runOk(['train', 'sine', '--algorithm', algorithm, ...TINY, '--out', out]);
    const config = await readJson(join(out, 'config.json'));
    assert.equal(config.algorithm, algorithm);
    // The sine MLP: the fused kernel trains first-order algorithms and evaluates all of them.
    const training = { reptile: 'fused-mlp', fomaml: 'fused-mlp', maml: 'tfjs', scratch: 'none', joint: 'fused-mlp' }[algorithm as string];
    assert.deepEqual(config.innerLoopUsed, { training, evaluation: 'fused-mlp' });
    const summary = await readJson(join(out, 'summary.json'));
    assert.equal(summary.algorithm, algorithm);
    assert.ok(Number.isFinite(summary.eval.mseAfter));
    const evaluated = await runOk(['eval', out, '--eval-samples', '3']);
    assert.match(evaluated.stdout, new RegExp(`^${algorithm}: MSE`, 'm'));
  });
}

test('--foml is --algorithm fomaml; --foml-tail is recorded; --baseline scratch trains scratch after it', async () => {
  const out = join(dir, 'foml');
  await runOk(['train', 'sine', '--foml', '--foml-tail', '5', ...TINY, '--baseline', 'scratch', '--out', out]);
  const config = await readJson(join(out, 'config.json'));
  assert.equal(config.algorithm, 'fomaml');
  assert.equal(config.fomlTail, 5);
  const summary = await readJson(join(out, 'summary.json'));
  assert.equal(summary.baseline.algorithm, 'scratch');
});

test('settings an algorithm cannot use are one-line usage errors (exit 2)', async () => {
  const cases: [string[], (string | RegExp)[]][] = [
    [['--foml', '--algorithm', 'maml'], ['--foml', 'maml']],
    [['--algorithm', 'reptile', '--foml-tail', '2'], ['--foml-tail', 'reptile']],
    [['--algorithm', 'fomaml', '--foml-tail', '50', '--train-shots', '50'], ['--foml-tail 50', 'at most 49']],
    [['--algorithm', 'maml', '--inner-optimizer', 'adam'], ['--algorithm maml', '--sgd']],
    [['--algorithm', 'mamll'], ['--algorithm', 'fomaml']],
  ];
  for (const [flags, mentions] of cases) {
    const result = await runCli(['train', 'sine', ...flags, ...TINY, '--out', join(dir, 'bad')]);
    assertOneLineUsageError(result, mentions, flags.join(' '));
  }
});
