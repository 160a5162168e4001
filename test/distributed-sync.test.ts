/**
 * `reptile train --broker URL` (src/distributed/) against the local worker pool, at the command
 * line, on short sine runs with a private Redis (test/support/redis.ts):
 * - with 1 worker process and chunks of 1 task, everything the run writes (summary, metrics with
 *   their training loss, model, charts) is bitwise that of `--workers 2`;
 * - with 3 worker processes and chunks of 2, on the TensorFlow.js inner loop (where --workers 2
 *   really starts the pool): the model bytes, the evaluations and the metrics but the
 *   training-loss diagnostic (summed per chunk, as the pool sums it per thread: to rounding);
 * - a worker SIGKILLed while it adapts a chunk: its job is re-queued when its lock expires and
 *   another worker computes it; no bit changes;
 * - a meta-iteration whose chunks are all delivered twice: no bit changes, and every extra
 *   delivery is counted (a duplicate result, or stale work once the version has moved on);
 * - --broker-async: with --max-staleness 0 it is the synchronous run; with 2 it runs to the end
 *   and reports the chunks it applied late or dropped (its numbers are not reproducible).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSameResults, killRunningClis, metricsWithoutTime, readJson, runOk } from './support/cli.js';
import { redisRequirement, startRedis, startWorker, stopWorkers, type TestRedis } from './support/redis.js';

const skip = redisRequirement();
const SINE = ['train', 'sine', '--meta-iters', '12', '--meta-batch', '5', '--eval-interval', '6', '--eval-interval-samples', '5', '--eval-samples', '20', '--baseline', 'none', '--checkpoint-interval', '0'];

let root: string;
let redis: TestRedis;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-distributed-'));
  if (!skip) redis = await startRedis();
});
after(async () => {
  killRunningClis();
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

async function weights(dir: string): Promise<Buffer> {
  return readFile(join(dir, 'model', 'weights.bin'));
}

/** Evaluations, metrics without the clock and the training-loss diagnostic, model bytes. */
async function assertSameParameters(reference: string, run: string): Promise<void> {
  assert.ok((await weights(run)).equals(await weights(reference)), 'model/weights.bin');
  assert.deepEqual((await readJson(join(run, 'summary.json'))).eval, (await readJson(join(reference, 'summary.json'))).eval, 'summary.json eval');
  const strip = (ms: Record<string, unknown>[]) => ms.map(({ trainLoss, ...m }) => ({ ...m, trainLoss: typeof trainLoss }));
  const [a, b] = [await metricsWithoutTime(reference), await metricsWithoutTime(run)];
  assert.deepEqual(strip(b), strip(a), 'metrics.jsonl without elapsedSeconds and trainLoss');
  // The stacked tfjs loop sums a chunk's losses in float32 (measured: 2e-8 relative apart).
  b.forEach((m, i) => assert.ok(Math.abs((m.trainLoss as number) - (a[i].trainLoss as number)) <= 1e-6 * Math.abs(a[i].trainLoss as number), `trainLoss ${m.trainLoss} vs ${a[i].trainLoss}`));
}

describe('--broker gives the numbers of --workers 2', { skip }, () => {
  let reference: string;
  before(async () => {
    reference = join(root, 'workers-2');
    await runOk([...SINE, '--workers', '2', '--out', reference]);
  });

  test('1 worker process, chunks of 1 task: every file the run writes is the same', async () => {
    const workers = [await startWorker(redis.url)];
    const out = join(root, 'broker-1');
    const r = await runOk([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--out', out]);
    await stopWorkers(workers);
    assert.match(r.stdout, /coordinating on redis:\/\/:\*\*\*@127\.0\.0\.1/, 'the password is not printed');
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(redis.password));
    assert.match(r.stdout, /ignored so far in this run: 0 duplicate, 0 stale and 0 refused deliveries/);
    const config = await readJson(join(out, 'config.json'));
    assert.equal(config.broker, undefined, 'the broker is not a setting');
    await assertSameResults(reference, out);
  });

  test('kill -9 of a worker while it adapts: its chunk is re-queued and computed by the other; no bit changes', async () => {
    // The first worker SIGKILLs itself as it starts its 8th chunk (meta-iteration 2 of 12).
    const doomed = await startWorker(redis.url, [], { REPTILE_TEST_WORKER_KILL: '8' });
    const survivor = await startWorker(redis.url);
    const out = join(root, 'broker-killed');
    await runOk([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--broker-deadline', '60', '--out', out]);
    const killed = await doomed.done;
    assert.equal(killed.signal, 'SIGKILL', `the worker was killed: ${killed.stdout}`);
    await stopWorkers([survivor]);
    await assertSameResults(reference, out);
  });

  test('every chunk of meta-iteration 2 delivered twice: no bit changes, the extra deliveries are counted', async () => {
    const workers = [await startWorker(redis.url)];
    const out = join(root, 'broker-duplicates');
    const r = await runOk([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--out', out], { env: { REPTILE_TEST_BROKER_DUPLICATE: '2' } });
    const [stopped] = await stopWorkers(workers);
    const m = /ignored so far in this run: (\d+) duplicate, (\d+) stale and 0 refused deliveries/.exec(r.stdout);
    assert.ok(m, r.stdout);
    // 5 chunks, each delivered once more; with one worker taking jobs in order, all but maybe
    // the last copy arrive while meta-iteration 2 is current, so their SET NX finds a result.
    assert.equal(Number(m[1]) + Number(m[2]), 5, r.stdout);
    assert.ok(Number(m[1]) >= 4, `duplicates: ${m[1]}`);
    assert.match(stopped.stdout, /dropped run \w+ generation 1 meta-iteration 2 chunk 0 .*another delivery's result is in/);
    await assertSameResults(reference, out);
  });
});

describe('--broker with several workers on the worker pool\'s own inner loop', { skip }, () => {
  test('3 worker processes, chunks of 2 tasks, TensorFlow.js inner loop: the parameters of --workers 2', async () => {
    const tfjs = [...SINE, '--inner-loop', 'tfjs'];
    const reference = join(root, 'tfjs-workers-2');
    const local = await runOk([...tfjs, '--workers', '2', '--out', reference]);
    assert.match(local.stdout, /in 2 worker threads/, 'the pool really runs');
    const workers = await Promise.all([1, 2, 3].map(() => startWorker(redis.url)));
    const out = join(root, 'tfjs-broker-3');
    await runOk([...tfjs, '--broker', redis.url, '--broker-chunk', '2', '--out', out]);
    const ran = await stopWorkers(workers);
    assert.ok(ran.filter((w) => /adapted run/.test(w.stdout)).length >= 2, 'at least two workers adapted chunks');
    await assertSameParameters(reference, out);
  });
});

describe('--broker-async', { skip }, () => {
  test('--max-staleness 0 with one worker is the synchronous run: the numbers of --workers 2', async () => {
    const reference = join(root, 'workers-2'); // made by the first describe's before()
    const workers = [await startWorker(redis.url)];
    const out = join(root, 'async-0');
    const r = await runOk([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--broker-async', '--max-staleness', '0', '--out', out]);
    await stopWorkers(workers);
    assert.match(r.stdout, /broker-async: 0 chunks applied in a later meta-iteration than their own/);
    await assertSameResults(reference, out);
  });

  test('--max-staleness 2 with two workers: the run finishes and reports its late and dropped chunks', async () => {
    const workers = await Promise.all([1, 2].map(() => startWorker(redis.url)));
    const out = join(root, 'async-2');
    const r = await runOk([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--broker-async', '--max-staleness', '2', '--out', out]);
    await stopWorkers(workers);
    const m = /broker-async: (\d+) chunks applied in a later meta-iteration than their own, (\d+) dropped as more than 2 versions old/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const summary = await readJson(join(out, 'summary.json'));
    assert.ok(Number.isFinite(summary.eval.mseAfter), JSON.stringify(summary.eval));
  });
});
