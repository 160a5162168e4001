/**
 * A private Redis server for the distributed tests (test/distributed-*.test.ts): Debian's
 * redis-server on 127.0.0.1, on a free port, with a password and no persistence, stopped by the
 * test; and `reptile worker` processes attached to it. Without redis-server the tests skip, or
 * fail under REPTILE_REQUIRE_REDIS=1 (.ci/run installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { startCli, type CliResult, type RunningCli } from './cli.js';
import { requirement } from './require.js';

export const REDIS_SERVER = process.env.REPTILE_TEST_REDIS_SERVER || '/usr/bin/redis-server';

/** Skip reason (or false) for the tests that need redis-server. */
export function redisRequirement(): string | false {
  return requirement('redis', existsSync(REDIS_SERVER), `redis-server is not at ${REDIS_SERVER} (apt-get install redis-server)`);
}

/** A port nobody listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestRedis {
  port: number;
  password: string;
  /** redis://:password@127.0.0.1:port */
  url: string;
  /** Stops the server (SIGKILL: nothing to save) and waits for it. */
  stop(): Promise<void>;
  /** Stops it and starts a new, empty one on the same port. */
  restart(): Promise<void>;
}

/** Waits until the server says it is ready; rejects if it exits first. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited with code ${code}:\n${log}`)));
  });
}

export interface RedisSettings {
  /** The server's maxmemory-policy (default noeviction, as BullMQ needs). */
  maxmemoryPolicy?: string;
  /** TLS only, on the server's port: PEM files of its certificate and key, and of the CA for client certificates. */
  tls?: { cert: string; key: string; ca: string };
}

/** Starts a server on a free port. */
export async function startRedis({ maxmemoryPolicy = 'noeviction', tls }: RedisSettings = {}): Promise<TestRedis> {
  const password = 'reptile-test-password';
  const at = await freePort();
  const listen = tls
    ? ['--port', '0', '--tls-port', String(at), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no']
    : ['--port', String(at)];
  const args = [...listen, '--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no', '--maxmemory-policy', maxmemoryPolicy];
  let child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await ready(child);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    port: at,
    password,
    url: `redis://:${password}@127.0.0.1:${at}`,
    stop,
    async restart() {
      await stop();
      child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      await ready(child);
    },
  };
}

/** Starts `reptile worker --broker url --threads 1 ...` and waits until it takes jobs. */
export async function startWorker(url: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunningCli> {
  const worker = startCli(['worker', '--broker', url, '--threads', '1', '--lock-duration', '1000', ...args], { env });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    worker.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('taking jobs')) resolve();
    });
    worker.done.then((r) => reject(new Error(`reptile worker exited (${r.signal ?? r.code}) before taking jobs:\n${r.stdout}\n${r.stderr}`)));
  });
  return worker;
}

/** SIGTERMs the workers and waits for them to end: each must exit 0 saying why. */
export async function stopWorkers(workers: RunningCli[]): Promise<CliResult[]> {
  for (const w of workers) w.child.kill('SIGTERM');
  const ended = await Promise.all(workers.map((w) => w.done));
  for (const r of ended) {
    assert.equal(r.code, 0, `reptile worker after SIGTERM: ${r.signal ?? r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /SIGTERM: taking no new job, finishing the running ones\n(.*\n)*worker stopped\n$/);
  }
  return ended;
}
