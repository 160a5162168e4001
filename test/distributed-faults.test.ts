/**
 * Faults of a distributed run (`reptile train --broker`), at the command line with a private
 * Redis (test/support/redis.ts), each against the same short sine run with `--workers 2`:
 * - backup copies of every chunk (--broker-backup-after 0): the first result wins, the copies are
 *   counted, no bit changes; the run's keys live under --broker-prefix;
 * - Redis restarted (empty) while a meta-iteration's jobs wait in the queue: the coordinator
 *   reconnects and re-publishes them, a worker started afterwards computes them; no bit changes;
 * - the coordinator killed mid-run and resumed with --resume: a new generation, the same results;
 * - a result written by a worker of another package version: ignored, counted as refused, and the
 *   chunk computed again by a worker of this build;
 * - TLS (rediss://) with a self-signed certificate authority made by openssl here: the run and
 *   its worker connect with --broker-ca; without it the certificate is refused (exit 2).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import { Redis } from 'ioredis';
import { assertOneLineUsageError, assertSameResults, killRunningClis, runCli, runKilledAt, runOk, startCli } from './support/cli.js';
import { redisRequirement, startRedis, startWorker, stopWorkers, type TestRedis } from './support/redis.js';
import { brokerRunId } from '../src/cli/train-broker.js';

const skip = redisRequirement();
const SINE = ['train', 'sine', '--meta-iters', '6', '--meta-batch', '4', '--eval-interval', '3', '--eval-interval-samples', '5', '--eval-samples', '10', '--baseline', 'none', '--checkpoint-interval', '3'];

let root: string;
let redis: TestRedis;
let reference: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-distributed-faults-'));
  if (skip) return;
  redis = await startRedis();
  reference = join(root, 'workers-2');
  await runOk([...SINE, '--workers', '2', '--out', reference]);
});
after(async () => {
  killRunningClis();
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('faults of a distributed run change no bit', { skip }, () => {
  test('a backup copy of every chunk under --broker-prefix: the first result wins, the copies are counted', async () => {
    const workers = [await startWorker(redis.url, ['--broker-prefix', 'team-a'])];
    const out = join(root, 'backups');
    const r = await runOk([...SINE, '--broker', redis.url, '--broker-prefix', 'team-a', '--broker-chunk', '2', '--broker-backup-after', '0', '--out', out]);
    await stopWorkers(workers);
    const m = /ignored so far in this run: (\d+) duplicate, (\d+) stale and 0 refused deliveries/.exec(r.stdout);
    assert.ok(m, r.stdout);
    // 6 meta-iterations of 2 chunks, each with one backup copy (the last ones may still be queued at the end).
    assert.ok(Number(m[1]) + Number(m[2]) >= 10 && Number(m[1]) + Number(m[2]) <= 12, r.stdout);
    await assertSameResults(reference, out);
    const client = new Redis({ host: '127.0.0.1', port: redis.port, password: redis.password });
    try {
      const run = brokerRunId(out);
      assert.equal(await client.get(`team-a:run:${run}:generation`), '1', "the run's keys are under the prefix");
      assert.equal(await client.exists(`reptile:run:${run}:generation`), 0, 'and not under the default prefix');
    } finally {
      client.disconnect();
    }
  });

  test('Redis restarted while jobs wait: the coordinator reconnects and re-publishes them', async () => {
    const out = join(root, 'restart');
    const coordinator = startCli([...SINE, '--broker', redis.url, '--broker-chunk', '2', '--broker-deadline', '60', '--out', out]);
    // No worker yet: wait until meta-iteration 1's jobs are in the queue, then restart Redis empty.
    const client = new Redis({ host: '127.0.0.1', port: redis.port, password: redis.password, lazyConnect: true });
    await client.connect();
    while ((await client.llen('reptile:adapt:wait')) < 2) await new Promise((r) => setTimeout(r, 50));
    client.disconnect();
    await redis.restart();
    const workers = [await startWorker(redis.url)];
    const r = await coordinator.done;
    await stopWorkers(workers);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /re-publishing meta-iteration 1's chunks 0, 1 \(the queue lost them: did Redis restart\?\)/);
    await assertSameResults(reference, out);
  });

  test('the coordinator killed after meta-iteration 4 and resumed: generation 2 finishes with the same results', async () => {
    const workers = [await startWorker(redis.url)];
    const out = join(root, 'resumed');
    const args = [...SINE, '--broker', redis.url, '--out', out];
    await runKilledAt(args, 'training:0:4');
    const r = await runOk(['train', '--resume', out, '--broker', redis.url]);
    await stopWorkers(workers);
    assert.match(r.stdout, /\(run \w+, generation 2\)/);
    await assertSameResults(reference, out);
  });
});

describe('a worker of another build', { skip }, () => {
  test("its result is ignored and counted as refused; the chunk is computed again; no bit changes", async () => {
    const out = join(root, 'other-build');
    // A forged result left in place would hold the chunk until this deadline: the run would fail.
    const coordinator = startCli([...SINE, '--broker', redis.url, '--broker-deadline', '30', '--out', out]);
    const client = new Redis({ host: '127.0.0.1', port: redis.port, password: redis.password });
    const keys = `reptile:run:${brokerRunId(out)}`;
    try {
      // Before any worker of this build runs: a result for meta-iteration 1's only chunk, as a
      // worker of reptile 999.0.0 would write it.
      while ((await client.get(`${keys}:current`)) !== '1.1') await new Promise((r) => setTimeout(r, 50));
      const forged = { packageVersion: '999.0.0', kernelBuild: 'other', worker: 'elsewhere:1', result: { phis: [], lossSum: 0 } };
      assert.equal(await client.set(`${keys}:result:1:1:0`, serialize(forged), 'EX', 600, 'NX'), 'OK');
      await client.rpush(`${keys}:done:1:1`, '0');
    } finally {
      client.disconnect();
    }
    const workers = [await startWorker(redis.url)];
    const r = await coordinator.done;
    await stopWorkers(workers);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ignored chunk 0 of meta-iteration 1: worker elsewhere:1 runs reptile 999\.0\.0, this process /);
    assert.match(r.stdout, / 1 refused deliveries/);
    await assertSameResults(reference, out);
  });
});

describe('TLS', { skip }, () => {
  test('rediss:// with a self-signed certificate authority: --broker-ca connects; without it the certificate is refused', async () => {
    const dir = join(root, 'tls');
    execFileSync('mkdir', ['-p', dir]);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=reptile test CA', '-days', '1');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
    const tls = await startRedis({ tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') } });
    try {
      const url = tls.url.replace('redis://', 'rediss://');
      const ca = ['--broker-ca', join(dir, 'ca.crt')];
      const refused = await runCli([...SINE, '--broker', url, '--out', join(root, 'tls-no-ca')]);
      assertOneLineUsageError(refused, ['--broker rediss://:***@127.0.0.1', /certificate/i], 'TLS without --broker-ca');
      const workers = [await startWorker(url, ca)];
      const out = join(root, 'tls-run');
      await runOk([...SINE, '--broker', url, ...ca, '--out', out]);
      await stopWorkers(workers);
      await assertSameResults(reference, out);
    } finally {
      await tls.stop();
    }
  });
});
