/**
 * The --broker flags of `reptile train` and `reptile worker` (docs/distributed.md). They say where
 * tasks are adapted, not what is computed, so they are not settings: config.json does not record
 * them, and a --resume may give them again (a new generation of the run).
 */
import { Option } from 'commander';
import { integer, real } from './parse.js';
import { UsageError } from './errors.js';
import type { BrokerFlags } from '../distributed/broker-connection.js';

/** The connection flags both commands take. */
export function connectionOptions(): Option[] {
  return [
    new Option('--broker <url>', 'Redis for distributed adaptation: redis://[user:password@]host:port[/db], or rediss:// for TLS'),
    new Option('--broker-prefix <prefix>', "key prefix of the run's Redis keys and queue, for a Redis ACL (default: reptile)"),
    new Option('--broker-ca <file>', 'rediss://: PEM file of the certificate authority that signed the server certificate'),
    new Option('--broker-cert <file>', 'rediss://: PEM client certificate (when the server asks for one)'),
    new Option('--broker-key <file>', "rediss://: PEM private key of --broker-cert"),
  ];
}

/** `reptile train`'s coordinator flags. */
export function coordinatorOptions(): Option[] {
  return [
    ...connectionOptions(),
    new Option('--broker-chunk <n>', 'tasks per job sent to the workers (default: 4)').argParser(integer(1)),
    new Option('--broker-deadline <s>', 'seconds a meta-iteration may wait for its chunks before the run stops with an error (default: 300)').argParser(real(0, Infinity, { minExclusive: true })),
    new Option('--broker-backup-after <s>', "seconds after which an unfinished chunk gets a backup copy; the first result wins (default: never)").argParser(real(0)),
    new Option('--broker-attempts <n>', 'deliveries of a job (a failed or killed worker) before the run stops (default: 5)').argParser(integer(1)),
    new Option('--broker-async', 'apply the first chunks to arrive, of this or recent meta-iterations (NOT reproducible; docs/distributed.md)'),
    new Option('--max-staleness <s>', '--broker-async: drop chunks more than s meta-iterations old (default: 1)').argParser(integer(0)),
  ];
}

export interface CoordinatorFlags extends BrokerFlags {
  brokerChunk?: number;
  brokerDeadline?: number;
  brokerBackupAfter?: number;
  brokerAttempts?: number;
  brokerAsync?: boolean;
  maxStaleness?: number;
}

/** The coordinator flags in `flags` (commander's parsed options), or undefined without --broker. */
export function coordinatorFlags(flags: Record<string, unknown>): CoordinatorFlags | undefined {
  if (flags.maxStaleness !== undefined && !flags.brokerAsync) throw new UsageError('--max-staleness needs --broker-async');
  if (flags.brokerAsync && flags.brokerBackupAfter !== undefined) throw new UsageError('--broker-backup-after does not apply to --broker-async (a late chunk counts in a later meta-iteration)');
  if (flags.broker === undefined) {
    const stray = Object.keys(flags).find((k) => k.startsWith('broker') && flags[k] !== undefined);
    if (stray) throw new UsageError(`${flagOf(stray)} needs --broker URL`);
    return undefined;
  }
  return flags as unknown as CoordinatorFlags;
}

/** --brokerChunk's flag as typed: --broker-chunk. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
}

/** The flags of `reptile tune` and `reptile experiment` that send their runs to workers. */
export function brokerFlagOptions(what: string): Option[] {
  return [new Option('--broker <url>', `Redis: ${what} are trained by reptile worker processes (docs/distributed.md); --jobs: runs in flight`), ...connectionOptions().slice(1)];
}

/** A --broker-* flag without --broker is a usage error. */
export function refuseStrayBrokerFlags(flags: object): void {
  coordinatorFlags(flags as Record<string, unknown>);
}
