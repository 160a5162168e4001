/**
 * `--broker` problems at the command line, with a private Redis (test/support/redis.ts): a wrong
 * password, a server nobody listens on, a server that may evict keys and a malformed URL are
 * one-line usage errors (exit 2) that leave no run directory; so is a broker flag without
 * --broker. A run whose chunks nobody computes stops at --broker-deadline naming the missing
 * chunks; a worker refuses a job from a coordinator of another package version, exit 2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { assertOneLineUsageError, killRunningClis, runCli } from './support/cli.js';
import { freePort, redisRequirement, startRedis, startWorker, type TestRedis } from './support/redis.js';

const skip = redisRequirement();
const SINE = ['train', 'sine', '--meta-iters', '3', '--meta-batch', '3', '--eval-interval', '0', '--eval-samples', '5', '--baseline', 'none', '--checkpoint-interval', '0'];

let root: string;
let redis: TestRedis;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-distributed-errors-'));
  if (!skip) redis = await startRedis();
});
after(async () => {
  killRunningClis();
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('--broker usage errors: one line, exit 2, no run directory', { skip }, () => {
  const refused = async (name: string, url: string, mentions: (string | RegExp)[], extra: string[] = []) => {
    const out = join(root, name);
    const r = await runCli([...SINE, '--broker', url, ...extra, '--out', out]);
    const line = assertOneLineUsageError(r, mentions, name);
    assert.ok(!existsSync(out), `${name}: no run directory`);
    assert.doesNotMatch(line, /wrong-password|reptile-test-password/, `${name}: the password is not printed`);
  };

  test('a wrong password', async () => {
    await refused('wrong-password', `redis://:wrong-password@127.0.0.1:${redis.port}`, ['--broker redis://:***@127.0.0.1', /refused the credentials|WRONGPASS/]);
  });

  test('no password where the server needs one', async () => {
    await refused('no-password', `redis://127.0.0.1:${redis.port}`, [/needs a password/]);
  });

  test('nobody listens on the port', async () => {
    await refused('unreachable', `redis://:x@127.0.0.1:${await freePort()}`, [/cannot connect \(ECONNREFUSED\)/]);
  });

  test('a server whose maxmemory-policy may evict BullMQ\'s keys', async () => {
    const evicting = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    try {
      await refused('evicting', evicting.url, ['maxmemory-policy is allkeys-lru', 'noeviction']);
    } finally {
      await evicting.stop();
    }
  });

  test('a URL that is not redis:// or rediss://, TLS files without rediss://, a broker flag without --broker', async () => {
    await refused('scheme', 'http://127.0.0.1:80', ["scheme 'http:' is not allowed", 'redis://']);
    await refused('tls-files', redis.url, ['need a rediss:// URL'], ['--broker-ca', '/nonexistent.pem']);
    const out = join(root, 'stray');
    assertOneLineUsageError(await runCli([...SINE, '--broker-chunk', '2', '--out', out]), ['--broker-chunk needs --broker'], 'stray');
    assert.ok(!existsSync(out));
  });

  test('one task per meta-iteration, or --workers 0, cannot be distributed', async () => {
    await refused('meta-batch-1', redis.url, ['--meta-batch >= 2'], ['--meta-batch', '1']);
    await refused('workers-0', redis.url, ['drop --workers 0'], ['--workers', '0']);
  });

  test('reptile worker with a wrong password', async () => {
    const r = await runCli(['worker', '--broker', `redis://:wrong-password@127.0.0.1:${redis.port}`]);
    assertOneLineUsageError(r, [/refused the credentials|WRONGPASS/], 'worker');
  });
});

describe('runtime failures', { skip }, () => {
  test('no worker: the run stops at --broker-deadline with an error naming the missing chunks (exit 1)', async () => {
    const out = join(root, 'deadline');
    const r = await runCli([...SINE, '--broker', redis.url, '--broker-chunk', '1', '--broker-deadline', '1.5', '--out', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: --broker-deadline 1\.5 s: meta-iteration 1 \(generation 1\) is missing chunks 0, 1, 2 of 3 \(job ids \w+\.1\.1\.0, /);
    assert.ok(!existsSync(join(out, 'summary.json')));
  });

  test('a worker refuses a job from a coordinator of another package version: one line, exit 2', async () => {
    const worker = await startWorker(redis.url);
    const queue = new Queue('adapt', { connection: { host: '127.0.0.1', port: redis.port, password: redis.password }, prefix: 'reptile' });
    try {
      await queue.add('adapt', { run: 'r', generation: 1, version: 1, chunk: 0, packageVersion: '999.0.0', kernelBuild: 'x', prefix: 'reptile', expirySeconds: 60, params: 'p', tasks: '' }, { jobId: 'r.1.1.0' });
      const r = await worker.done;
      assertOneLineUsageError(r, ['refused a job: the coordinator runs reptile 999.0.0, this process'], 'refusing worker');
      const job = await queue.getJob('r.1.1.0');
      assert.match(job!.failedReason, /refused the job: the coordinator runs reptile 999\.0\.0/);
    } finally {
      await queue.close();
    }
  });
});
