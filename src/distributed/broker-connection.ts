/**
 * The Redis server behind `--broker redis://[user:pass@]host:port[/db]` (or `rediss://` with
 * --broker-ca/--broker-cert/--broker-key): the URL's credentials and the TLS files go straight to
 * ioredis. `checkBroker` connects once before anything is written, so a wrong password, an
 * unreachable server or a server that may evict BullMQ's keys is a one-line usage error.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { UsageError } from '../cli/errors.js';

export interface BrokerFlags {
  broker: string;
  brokerCa?: string;
  brokerCert?: string;
  brokerKey?: string;
  /** Key prefix of every key and queue (a Redis ACL can confine a user to it). */
  brokerPrefix?: string;
}

export interface BrokerAddress {
  /** The URL with its password replaced by ***, for messages and logs. */
  shown: string;
  /** ioredis options for a long-lived connection (reconnects; BullMQ's required settings). */
  options: RedisOptions;
  prefix: string;
}

export const DEFAULT_PREFIX = 'reptile';

function readTlsFile(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Parses --broker and its TLS files; a malformed URL is a usage error naming what is allowed. */
export function brokerAddress(flags: BrokerFlags): BrokerAddress {
  const allowed = 'expected redis://[user:password@]host:port[/db] or rediss://... for TLS';
  let url: URL;
  try {
    url = new URL(flags.broker);
  } catch {
    throw new UsageError(`--broker ${flags.broker}: not a URL; ${allowed}`);
  }
  const shownUrl = new URL(url.href);
  if (shownUrl.password) shownUrl.password = '***';
  const shown = shownUrl.href;
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--broker ${shown}: scheme '${url.protocol}' is not allowed; ${allowed}`);
  if (!url.hostname) throw new UsageError(`--broker ${shown}: no host; ${allowed}`);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new UsageError(`--broker ${shown}: database '${dbText}' is not a number; ${allowed}`);
  const tlsFlags = [flags.brokerCa, flags.brokerCert, flags.brokerKey].some((f) => f !== undefined);
  if (tlsFlags && url.protocol !== 'rediss:') throw new UsageError(`--broker ${shown}: --broker-ca/--broker-cert/--broker-key need a rediss:// URL`);
  const prefix = flags.brokerPrefix ?? DEFAULT_PREFIX;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new UsageError(`--broker-prefix ${prefix}: allowed: 1 to 64 letters, digits, '_', '.', '-'`);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db: dbText === '' ? 0 : Number(dbText),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:'
      ? { tls: { ca: readTlsFile('--broker-ca', flags.brokerCa), cert: readTlsFile('--broker-cert', flags.brokerCert), key: readTlsFile('--broker-key', flags.brokerKey) } }
      : {}),
    // BullMQ's workers need commands to wait for a reconnection instead of failing.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  };
  return { shown, options, prefix };
}

/** A long-lived connection (reconnecting); its errors are reported by the commands that fail. */
export function connect(address: BrokerAddress): Redis {
  const redis = new Redis(address.options);
  redis.on('error', () => {}); // ioredis would print every reconnection attempt's error
  return redis;
}

/** One line for a connection or authentication failure. */
function describe(error: Error & { code?: string }): string {
  const text = error.message.split('\n')[0];
  if (/WRONGPASS|invalid password|invalid username-password/i.test(text)) return `the server refused the credentials (${text})`;
  if (/NOAUTH/i.test(text)) return `the server needs a password: give it in the URL, redis://:PASSWORD@host:port (${text})`;
  if (error.code === 'ECONNREFUSED' || error.code === 'ENOTFOUND' || error.code === 'ETIMEDOUT' || /timeout/i.test(text)) return `cannot connect (${error.code ?? text})`;
  return text;
}

/**
 * Connects once, without retrying, and checks the server: reachable, the credentials accepted,
 * Redis >= 6.2 and `maxmemory-policy noeviction` (BullMQ loses jobs when Redis evicts keys).
 * Where CONFIG is not allowed (a confined ACL user), the policy cannot be read: `warn` says so.
 */
export async function checkBroker(address: BrokerAddress, warn: (line: string) => void): Promise<void> {
  const probe = new Redis({ ...address.options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000, enableOfflineQueue: false });
  let lastError: Error | undefined;
  probe.on('error', (error: Error) => (lastError = error));
  try {
    await probe.connect();
    await probe.ping();
    // A confined ACL user may not be allowed INFO or CONFIG: then those checks are skipped.
    const info = await probe.info('server').catch(() => '');
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new UsageError(`--broker ${address.shown}: Redis ${version[1]}.${version[2]} is too old; BullMQ needs Redis >= 6.2`);
    }
    let policy: string | undefined;
    try {
      policy = ((await probe.config('GET', 'maxmemory-policy')) as string[])[1];
    } catch {
      warn(`warning: --broker ${address.shown}: cannot read maxmemory-policy (CONFIG not allowed); it must be noeviction, or Redis may drop queued jobs`);
    }
    if (policy !== undefined && policy !== 'noeviction') {
      throw new UsageError(`--broker ${address.shown}: maxmemory-policy is ${policy}; BullMQ needs noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, or in redis.conf)`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--broker ${address.shown}: ${describe((lastError ?? error) as Error)}`);
  } finally {
    probe.disconnect();
  }
}
