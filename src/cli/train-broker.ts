/**
 * `reptile train --broker URL`: the checks made before anything is written (the flags, the
 * server), and the coordinator's inner loop (src/distributed/broker-loop.ts) for Reptile's
 * meta-batches.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { brokerAddress, checkBroker, type BrokerAddress } from '../distributed/broker-connection.js';
import { BrokerLoop } from '../distributed/broker-loop.js';
import { adaptRecipe, type ThreadedInnerLoop } from '../parallel/worker-pool.js';
import type { AdaptRecipe } from '../parallel/protocol.js';
import { selectInnerLoop, type InnerLoopSetup } from '../algorithms/select-inner-loop.js';
import type { Optimizer } from '../nn/optimizers.js';
import type { KernelChoice } from '../algorithms/select-inner-loop.js';
import type { CoordinatorFlags } from './broker-options.js';
import { UsageError } from './errors.js';
import type { TrainConfig } from './config.js';

export interface BrokerSession {
  flags: CoordinatorFlags;
  address: BrokerAddress;
}

/**
 * Checks that the run can be distributed and that the server is usable (reachable, credentials
 * accepted, noeviction): each problem is a usage error, before the run directory is made.
 */
export async function openBroker(config: TrainConfig, flags: CoordinatorFlags, algorithms: readonly string[], log: (line: string) => void): Promise<BrokerSession> {
  if (!algorithms.includes('reptile')) throw new UsageError(`--broker distributes Reptile's meta-batches; --algorithm ${config.algorithm} runs in this process (drop --broker)`);
  if (config.metaBatch < 2) throw new UsageError(`--broker needs --meta-batch >= 2 (got ${config.metaBatch}): one task per meta-iteration has nothing to distribute`);
  if (config.workers === 0) throw new UsageError("--broker computes what --workers n >= 1 computes (every task from the same inner state); --workers 0 chains the state from task to task: drop --workers 0");
  const address = brokerAddress(flags);
  await checkBroker(address, log);
  return { flags, address };
}

/** The run's id in Redis: the same for every session of the run directory. */
export function brokerRunId(out: string): string {
  return createHash('sha256').update(resolve(out)).digest('hex').slice(0, 12);
}

/** The coordinator's inner loop: what `--workers N` computes, on the workers of the broker. */
export async function brokerInnerLoop(
  session: BrokerSession,
  config: TrainConfig,
  setup: InnerLoopSetup,
  optimizer: Optimizer,
  { backend, kernels, log, duplicateAtVersion }: { backend: AdaptRecipe['backend']; kernels: KernelChoice; log: (line: string) => void; duplicateAtVersion?: number },
): Promise<ThreadedInnerLoop> {
  const { flags, address } = session;
  const loop = await BrokerLoop.start({
    address,
    run: brokerRunId(config.out),
    recipe: adaptRecipe(setup, optimizer, { backend, kernels }, '--broker'),
    name: selectInnerLoop(setup, optimizer, { kernels }).name,
    chunk: flags.brokerChunk ?? 4,
    deadlineSeconds: flags.brokerDeadline ?? 300,
    backupAfterSeconds: flags.brokerBackupAfter,
    attempts: flags.brokerAttempts ?? 5,
    log,
    duplicateAtVersion,
    ...(flags.brokerAsync ? { maxStaleness: flags.maxStaleness ?? 1 } : {}),
  });
  if (flags.brokerAsync) log(`--broker-async: each meta-iteration applies the first chunks to arrive, up to ${flags.maxStaleness ?? 1} versions old; the numbers are not reproducible`);
  return { loop, threads: 0, close: () => loop.close() };
}
