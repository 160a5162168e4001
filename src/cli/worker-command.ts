/**
 * `reptile worker --broker URL [--threads N]`: adapts the task chunks of distributed runs
 * (`reptile train --broker URL`), and trains the runs of `reptile tune/experiment --broker URL`,
 * until stopped. SIGTERM or SIGINT: it takes no new job, finishes
 * the running ones and exits 0. A job from a coordinator of another package version or kernel
 * build is refused: the worker exits 2 naming both (the job goes back to the queue for a worker
 * that matches).
 */
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { integer } from './parse.js';
import { connectionOptions } from './broker-options.js';
import { UsageError } from './errors.js';
import type { BrokerFlags } from '../distributed/broker-connection.js';
import type { Benchmark } from './config.js';

interface WorkerFlags extends BrokerFlags {
  threads: number;
  lockDuration: number;
}

export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description('adapt task chunks (reptile train --broker URL) and train runs (tune/experiment --broker) taken from Redis, until SIGTERM')
    .addOption(new Option('--threads <n>', 'jobs at once, each on its own worker thread').argParser(integer(1, 256)).default(availableParallelism(), `the number of cores, ${availableParallelism()} here`))
    .addOption(new Option('--lock-duration <ms>', "a job's lock: a killed worker's job is re-queued this long after its last renewal").argParser(integer(1000)).default(30000))
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (flags: WorkerFlags) => {
      if (flags.broker === undefined) throw new UsageError("missing --broker URL: the Redis server of the coordinator ('reptile train ... --broker URL')");
      const killAt = process.env.REPTILE_TEST_WORKER_KILL || undefined;
      if (killAt !== undefined && !/^[1-9]\d*$/.test(killAt)) throw new UsageError(`REPTILE_TEST_WORKER_KILL=${killAt}: expected a job number >= 1 (a test hook, docs/cli.md)`);
      const { brokerAddress, checkBroker } = await import('../distributed/broker-connection.js');
      const { startBrokerWorker } = await import('../distributed/broker-worker.js');
      const address = brokerAddress(flags);
      const log = (line: string) => console.log(line);
      await checkBroker(address, log);
      let refusal: string | undefined;
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const worker = await startBrokerWorker({
        address,
        threads: flags.threads,
        lockDuration: flags.lockDuration,
        log,
        onRefused: (reason) => {
          refusal ??= reason;
          stop();
        },
        ...(killAt ? { killAtJob: Number(killAt) } : {}),
        runCell: async (data, dir) => {
          const { trainCell } = await import('./experiment/cells.js');
          return trainCell({ benchmark: data.benchmark as Benchmark, settings: data.settings, labels: {} }, dir, data.extraArgs);
        },
      });
      const onSignal = (signal: string) => {
        log(`${signal}: taking no new job, finishing the running ones`);
        stop();
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      await stopped;
      // Closing waits for the running jobs and for Redis; with Redis gone it would wait forever.
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([worker.close().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), flags.lockDuration)))]);
      clearTimeout(timer);
      if (!closed) {
        console.error(`error: could not close within --lock-duration ${flags.lockDuration} ms (is Redis reachable?); exiting, a job still locked is re-queued when its lock expires`);
        process.exit(1);
      }
      if (refusal) throw new UsageError(`refused a job: ${refusal}; run the same reptile build everywhere`);
      log('worker stopped');
    });
  for (const option of connectionOptions()) command.addOption(option);
}
