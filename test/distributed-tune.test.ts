/**
 * `reptile tune --broker URL` and `reptile experiment --broker URL`: the runs are trained by
 * `reptile worker` processes through a private Redis (test/support/redis.ts) and their run
 * directories come back; the ranking, the best configuration, the results' numbers and every
 * trial's model are those of the local tune, and a re-run reuses the finished trials without
 * sending a job; the experiment's results are the local experiment's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killRunningClis, readJson, runOk } from './support/cli.js';
import { redisRequirement, startRedis, startWorker, stopWorkers, type TestRedis } from './support/redis.js';

const skip = redisRequirement();
const SPACE = { search: 'grid', base: { metaIters: 8, metaBatch: 2, evalInterval: 0, evalSamples: 10, checkpointInterval: 0 }, space: { learningRate: [0.01, 0.03], innerIters: [2, 4] } };

let root: string;
let redis: TestRedis;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-distributed-tune-'));
  if (!skip) redis = await startRedis();
});
after(async () => {
  killRunningClis();
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

/** results.json without the clock's columns. */
async function rows(dir: string): Promise<Record<string, unknown>[]> {
  return ((await readJson(join(dir, 'results.json'))) as Record<string, unknown>[]).map(({ wallSeconds, metaItersPerSecond, ...row }) => ({ ...row, timed: [typeof wallSeconds, typeof metaItersPerSecond] }));
}

describe('reptile tune --broker', { skip }, () => {
  test('2 worker processes give the local tune: ranking, best configuration, numbers, models; a re-run reuses the trials', async () => {
    const space = join(root, 'space.json');
    await writeFile(space, JSON.stringify(SPACE));
    const local = join(root, 'local');
    await runOk(['tune', 'sine', '--space', space, '--jobs', '2', '--out', local]);
    const workers = await Promise.all([1, 2].map(() => startWorker(redis.url)));
    const remote = join(root, 'remote');
    const r = await runOk(['tune', 'sine', '--space', space, '--broker', redis.url, '--out', remote]);
    assert.match(r.stdout, /sending the runs to 'reptile worker --broker URL' processes/);
    const again = await runOk(['tune', 'sine', '--space', space, '--broker', redis.url, '--out', remote]);
    const ended = await stopWorkers(workers);
    assert.equal(ended.flatMap((w) => w.stdout.match(/trained run/g) ?? []).length, 4, 'each of the 4 trials trained once, by the workers');
    assert.doesNotMatch(again.stdout, /: training/, 'the re-run trains nothing');
    assert.deepEqual(await readJson(join(remote, 'best-config.json')), await readJson(join(local, 'best-config.json')));
    const [a, b] = [await rows(local), await rows(remote)];
    assert.equal(a.length, 4);
    assert.deepEqual(b, a, 'results.json but the times');
    for (const row of a) {
      const cell = String(row.cell);
      const [wa, wb] = [await readFile(join(local, 'cells', cell, 'model', 'weights.bin')), await readFile(join(remote, 'cells', cell, 'model', 'weights.bin'))];
      assert.ok(wb.equals(wa), `${cell}: model weights`);
      assert.deepEqual((await readJson(join(remote, 'cells', cell, 'summary.json'))).eval, (await readJson(join(local, 'cells', cell, 'summary.json'))).eval);
    }
  });

  test("experiment baselines on sine, 1 seed: 2 worker processes give the local experiment's results", async () => {
    const args = ['experiment', 'baselines', '--benchmarks', 'sine', '--seeds', '1', '--sine-meta-iters', '4', '--sine-eval-samples', '5'];
    const local = join(root, 'experiment-local');
    await runOk([...args, '--jobs', '2', '--out', local]);
    const workers = await Promise.all([1, 2].map(() => startWorker(redis.url)));
    const remote = join(root, 'experiment-remote');
    await runOk([...args, '--broker', redis.url, '--out', remote]);
    const ended = await stopWorkers(workers);
    const [a, b] = [await rows(local), await rows(remote)];
    assert.ok(a.length >= 4, `${a.length} runs`);
    assert.equal(ended.flatMap((w) => w.stdout.match(/trained run/g) ?? []).length, a.length, 'every run trained by the workers');
    assert.deepEqual(b, a, 'results.json but the times');
  });
});
