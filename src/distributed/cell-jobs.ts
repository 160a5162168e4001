/**
 * Whole runs as jobs (`reptile tune --broker URL`, `reptile experiment --broker URL`): each cell
 * of a search or experiment is one job on the `cells` queue; a `reptile worker` trains it in a
 * child process into a temporary directory and sends the run directory back, zipped, as the
 * job's return value; the coordinator unpacks it where the local run would have written it, so
 * resuming, ranking and the reports are unchanged.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { unzipSync, zipSync } from 'fflate';
import type { BrokerAddress } from './broker-connection.js';
import { buildIdentity, type BuildIdentity } from './build-identity.js';

export const CELL_QUEUE = 'cells';

/** What a worker needs to train a cell: the same arguments the local runner uses. */
export interface CellJobData extends BuildIdentity {
  benchmark: string;
  settings: Record<string, unknown>;
  extraArgs: string[];
}

export interface CellJobResult {
  code: number | null;
  stderr: string;
  /** base64 of a zip of the run directory. */
  files: string;
}

/** A directory's files, zipped, as base64. */
export async function zipDirectory(dir: string): Promise<string> {
  const files: Record<string, Uint8Array> = {};
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files[relative(dir, full)] = await readFile(full);
    }
  };
  await walk(dir);
  return Buffer.from(zipSync(files)).toString('base64');
}

/** Replaces `dir` by the zipped files; names that would leave it are refused (job data is data). */
async function unzipInto(base64: string, dir: string): Promise<void> {
  const files = unzipSync(Buffer.from(base64, 'base64'));
  await rm(dir, { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(files)) {
    const target = join(dir, name);
    if (relative(dir, target).startsWith('..') || name.startsWith('/')) throw new Error(`a worker sent a file outside the run directory: ${name}`);
    if (name.endsWith('/')) continue;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
  }
}

/** The coordinator's side: queue cells, wait for each, unpack its run directory. */
export class BrokerCells {
  /** This invocation's part of the job ids (a cell re-run later is a new job). */
  private readonly session = randomUUID().slice(0, 8);

  private constructor(private readonly queue: Queue, private readonly events: QueueEvents) {}

  static async start(address: BrokerAddress, log: (line: string) => void): Promise<BrokerCells> {
    const connection = address.options as ConnectionOptions;
    const queue = new Queue(CELL_QUEUE, { connection, prefix: address.prefix });
    const events = new QueueEvents(CELL_QUEUE, { connection, prefix: address.prefix });
    queue.on('error', () => {});
    events.on('error', () => {});
    await events.waitUntilReady();
    log(`sending the runs to 'reptile worker --broker URL' processes through ${address.shown}`);
    return new BrokerCells(queue, events);
  }

  /** Trains one cell on a worker into `dir` (replacing what is there); the exit code and stderr of its `reptile train`. */
  async train(id: string, cell: { benchmark: string; settings: Record<string, unknown> }, dir: string, extraArgs: string[]): Promise<{ code: number | null; stderr: string }> {
    const data: CellJobData = { ...buildIdentity(), benchmark: cell.benchmark, settings: cell.settings, extraArgs };
    const job = await this.queue.add('cell', data, { jobId: `cell.${this.session}.${id}`, attempts: 2, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });
    const result = (await job.waitUntilFinished(this.events)) as CellJobResult;
    await unzipInto(result.files, dir);
    return { code: result.code, stderr: result.stderr };
  }

  async close(): Promise<void> {
    await this.events.close().catch(() => {});
    await this.queue.close().catch(() => {});
  }
}
