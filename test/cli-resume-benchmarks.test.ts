/**
 * SIGKILL and `reptile train --resume` at the command line beyond sine's Reptile: an Omniglot MLP
 * run (the fused MLP kernel), an Omniglot CNN run (the fused CNN kernel, on worker threads), a
 * CLINC150 text run and a MAML run with its joint baseline. Each is killed by the test hook
 * REPTILE_TEST_KILL_AT (docs/cli.md) in the middle of training, resumed, and ends with the
 * results of the same run uninterrupted: summary.json's numbers, metrics.jsonl (but its times),
 * the model's bytes and the charts. Tiny budgets: a few seconds per run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertSameResults, checkpointAt, cliWith, killRunningClis, readJson, runKilledAt } from './support/cli.js';
import { nativeCpuLevels } from '../src/kernels/fused-native.js';

// dist/test/<this>.js -> the repository root is two levels up; the data sets are beside it.
const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const OMNIGLOT = join(SHARED, 'omniglot');
const CLINC = join(SHARED, 'text', 'clinc150');
const noOmniglot = existsSync(join(OMNIGLOT, 'images_background.zip')) && existsSync(join(OMNIGLOT, 'images_evaluation.zip')) ? false : `the Omniglot archives are not at ${OMNIGLOT}`;
const noClinc = existsSync(join(CLINC, 'data_full.json')) ? false : `CLINC150 is not at ${CLINC}`;

let root: string;
/** Every command shares the decoded-data cache; REPTILE_DEBUG is cleared (no stack traces). */
const env = () => ({ env: { REPTILE_CACHE_DIR: join(root, 'cache'), REPTILE_DEBUG: '' } });
const { runOk } = cliWith(env);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-resume-benchmarks-'));
});

after(async () => {
  killRunningClis();
  await rm(root, { recursive: true, force: true });
});

/**
 * `reptile train ...flags` uninterrupted (A), and the same run killed at each of `kills` in turn
 * (each leaving the checkpoint given beside it) and resumed after each (B): B ends with A's results.
 */
async function assertResumedLikeUninterrupted(name: string, flags: string[], kills: [point: string, checkpoint: { phase: number; iteration: number }][]): Promise<void> {
  const [a, b] = [join(root, `${name}-A`), join(root, `${name}-B`)];
  const [first, ...later] = kills;
  const killed = async ([point, checkpoint]: (typeof kills)[number], args: string[]) => {
    await runKilledAt(args, point, env());
    assert.deepEqual(checkpointAt(b), checkpoint, `the checkpoint a kill at ${point} leaves`);
  };
  // One after the other: the first Omniglot run decodes the archives into the shared cache.
  await runOk(['train', ...flags, '--out', a]);
  await killed(first, ['train', ...flags, '--out', b]);
  for (const kill of later) await killed(kill, ['train', '--resume', b]);
  assert.ok(!existsSync(join(b, 'summary.json')));
  await runOk(['train', '--resume', b]);
  await assertSameResults(a, b);
}

describe('SIGKILL and --resume at the command line, per benchmark', () => {
  test('Omniglot MLP (fused MLP kernel): killed after meta-iteration 5 of 6, resumed from its checkpoint at 4', { skip: noOmniglot }, async () => {
    const flags = ['omniglot', '--data', OMNIGLOT, '--model', 'mlp', '--meta-iters', '6', '--eval-interval', '2', '--eval-samples', '4', '--eval-interval-samples', '2', '--eval-iters', '2', '--checkpoint-interval', '2', '--baseline', 'none'];
    await assertResumedLikeUninterrupted('omniglot-mlp', flags, [['training:0:5', { phase: 0, iteration: 4 }]]);
  });

  test('Omniglot CNN (fused CNN kernel, 2 threads): killed after meta-iteration 3 of 4, resumed from its checkpoint at 2', { skip: noOmniglot }, async () => {
    const flags = ['omniglot', '--data', OMNIGLOT, '--model', 'conv', '--workers', '2', '--meta-iters', '4', '--eval-interval', '2', '--eval-samples', '2', '--eval-interval-samples', '2', '--eval-iters', '2', '--checkpoint-interval', '2', '--baseline', 'none'];
    await assertResumedLikeUninterrupted('omniglot-cnn', flags, [['training:0:3', { phase: 0, iteration: 2 }]]);
  });

  test('Omniglot CNN resumed on another instruction-set level (REPTILE_CPU): config.json says which level ran from which iteration', { skip: noOmniglot || (nativeCpuLevels().length < 2 ? 'this CPU runs one level of the native addon' : false) }, async () => {
    const levels = nativeCpuLevels();
    const out = join(root, 'omniglot-cnn-moved');
    const flags = ['omniglot', '--data', OMNIGLOT, '--model', 'conv', '--meta-iters', '4', '--eval-interval', '2', '--eval-samples', '2', '--eval-interval-samples', '2', '--eval-iters', '2', '--checkpoint-interval', '2', '--baseline', 'none', '--out', out];
    await runKilledAt(['train', ...flags], 'training:0:3', env());
    const other = levels[0];
    await runOk(['train', '--resume', out], { env: { ...env().env, REPTILE_CPU: other } });
    const config = await readJson(join(out, 'config.json'));
    assert.equal(config.nativeCpuLevel, levels.at(-1));
    assert.deepEqual(config.nativeCpuLevelResumed, [{ phase: 0, iteration: 2, level: other }]);
    assert.ok(existsSync(join(out, 'summary.json')));
  });

  test('CLINC150 text: killed after meta-iteration 3 of 4, resumed from its checkpoint at 2', { skip: noClinc }, async () => {
    const flags = ['clinc150', '--data', CLINC, '--meta-iters', '4', '--eval-interval', '2', '--eval-samples', '3', '--eval-interval-samples', '2', '--eval-iters', '5', '--embedding-dim', '16', '--buckets', '2048', '--checkpoint-interval', '2', '--baseline', 'none', '--seed', '1'];
    await assertResumedLikeUninterrupted('clinc150', flags, [['training:0:3', { phase: 0, iteration: 2 }]]);
  });

  test('MAML on sine (Adam meta-optimizer) and its joint baseline: killed during each phase, resumed each time', async () => {
    const flags = ['sine', '--algorithm', 'maml', '--meta-optimizer', 'adam', '--meta-iters', '30', '--eval-interval', '10', '--eval-samples', '5', '--eval-interval-samples', '3', '--checkpoint-interval', '10', '--seed', '2'];
    await assertResumedLikeUninterrupted('maml', flags, [
      ['training:maml:15', { phase: 0, iteration: 10 }],
      ['training:joint:25', { phase: 1, iteration: 20 }],
    ]);
  });
});
