/**
 * `reptile worker --broker URL`: pulls chunk jobs from the coordinator's queue (broker-loop.ts)
 * and adapts them on worker threads (the pool's adapt-worker.ts, one per --threads), so that the
 * event loop stays free and BullMQ keeps renewing the jobs' locks. Parameters are fetched once per
 * version and cached; a job of a version that is no longer current is skipped (stale), and a
 * result that another delivery already wrote is dropped (duplicate), both counted in Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { AdaptJob } from '../core/inner-loop.js';
import { PoolWorker } from '../parallel/worker-pool.js';
import type { AdaptRecipe } from '../parallel/protocol.js';
import { connect, type BrokerAddress } from './broker-connection.js';
import { buildIdentity, buildMismatch } from './build-identity.js';
import { decode, encode } from './codec.js';
import { ADAPT_QUEUE, RunKeys } from './keys.js';
import type { ChunkJobData, ChunkResultBlob, ParamsBlob } from './protocol.js';
import { CELL_QUEUE, zipDirectory, type CellJobData, type CellJobResult } from './cell-jobs.js';

export interface BrokerWorkerOptions {
  address: BrokerAddress;
  /** Jobs at once, each on its own worker thread. */
  threads: number;
  /** Milliseconds a job stays locked without renewal (a killed worker's job is re-queued after it). */
  lockDuration: number;
  log: (line: string) => void;
  /** A coordinator of another build sent a job: this worker stops (after failing the job, which goes to another worker). */
  onRefused: (reason: string) => void;
  /** Test hook: SIGKILL this process when it starts adapting its n-th job. */
  killAtJob?: number;
  /** Trains a whole run (a cell of `reptile tune/experiment --broker`) into `dir`. */
  runCell: (data: CellJobData, dir: string) => Promise<{ code: number | null; stderr: string }>;
}

/** Worker threads for one recipe at a time (a new run's recipe replaces them). */
class Threads {
  private recipeKey: string | undefined;
  private idle: PoolWorker[] = [];
  private made = 0;

  async acquire(recipe: AdaptRecipe): Promise<{ thread: PoolWorker; key: string }> {
    const key = JSON.stringify(recipe);
    if (key !== this.recipeKey) {
      this.idle.forEach((t) => void t.terminate());
      this.idle = [];
      this.recipeKey = key;
    }
    const thread = this.idle.pop() ?? new PoolWorker(++this.made, recipe);
    try {
      await thread.started();
    } catch (error) {
      void thread.terminate();
      throw error;
    }
    return { thread, key };
  }

  /** A thread back after its job (a failed one ends: it may be broken). */
  release(thread: PoolWorker, key: string, ok: boolean): void {
    if (ok && key === this.recipeKey) this.idle.push(thread);
    else void thread.terminate();
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.map((t) => t.terminate()));
    this.idle = [];
  }
}

export interface RunningWorker {
  /** Stops taking jobs, lets the running ones finish, and closes the threads and connections. */
  close(): Promise<void>;
}

export async function startBrokerWorker(options: BrokerWorkerOptions): Promise<RunningWorker> {
  const { address, log } = options;
  const identity = buildIdentity();
  const name = `${hostname()}:${process.pid}`;
  const redis = connect(address);
  const threads = new Threads();
  /** Parameter blobs by key: the current version's and the one before (a straggler's). */
  const cache = new Map<string, ParamsBlob>();
  let started = 0;

  const params = async (key: string): Promise<ParamsBlob | undefined> => {
    const cached = cache.get(key);
    if (cached) return cached;
    const bytes = await redis.getBuffer(key);
    if (!bytes) return undefined;
    const blob = decode<ParamsBlob>(bytes);
    cache.set(key, blob);
    while (cache.size > 2) cache.delete(cache.keys().next().value!);
    return blob;
  };

  const process$ = async (job: Job<ChunkJobData>): Promise<string> => {
    const data = job.data;
    const refused = buildMismatch(data, 'the coordinator');
    if (refused) {
      options.onRefused(refused);
      throw new Error(`worker ${name} refused the job: ${refused}`);
    }
    const keys = new RunKeys(data.prefix, data.run);
    const isCurrent = async () => {
      const [generation, version] = ((await redis.get(keys.current)) ?? '').split('.').map(Number);
      return generation === data.generation && data.version <= version && data.version >= version - (data.maxStaleness ?? 0);
    };
    const what = `run ${data.run} generation ${data.generation} meta-iteration ${data.version} chunk ${data.chunk}`;
    const stale = async () => {
      await redis.incr(keys.stale);
      log(`skipped ${what} (job ${job.id}): no longer current`);
      return 'stale';
    };
    if (!(await isCurrent())) return stale();
    const blob = await params(data.params);
    if (!blob) {
      if (!(await isCurrent())) return stale();
      throw new Error(`the parameters ${data.params} are not in Redis (expired, or Redis restarted); the coordinator re-publishes them`);
    }
    const tasks = decode<AdaptJob[]>(Buffer.from(data.tasks, 'base64'));
    const t0 = performance.now();
    if (++started === options.killAtJob) process.kill(process.pid, 'SIGKILL');
    const { thread, key } = await threads.acquire(blob.recipe);
    let ok = false;
    let result;
    try {
      result = await thread.adapt(blob.theta, blob.state, tasks, blob.mode);
      ok = true;
    } finally {
      threads.release(thread, key, ok);
    }
    if (!(await isCurrent())) return stale();
    const resultBlob: ChunkResultBlob = { ...identity, result, worker: name };
    const written = await redis.set(keys.result(data.generation, data.version, data.chunk), encode(resultBlob), 'EX', data.expirySeconds, 'NX');
    if (!written) {
      await redis.incr(keys.duplicates);
      log(`dropped ${what} (job ${job.id}): another delivery's result is in`);
      return 'duplicate';
    }
    const done = keys.done(data.generation, data.version);
    await redis.multi().rpush(done, String(data.chunk)).expire(done, data.expirySeconds).exec();
    log(`adapted ${what} (job ${job.id}): ${tasks.length} tasks in ${(performance.now() - t0).toFixed(0)} ms`);
    return 'done';
  };

  const worker = new Worker<ChunkJobData>(ADAPT_QUEUE, process$, {
    connection: address.options as ConnectionOptions,
    prefix: address.prefix,
    concurrency: options.threads,
    lockDuration: options.lockDuration,
    // Stalled jobs (a killed worker's) are looked for as often as a lock may expire.
    stalledInterval: options.lockDuration,
    maxStalledCount: 5,
  });
  worker.on('error', () => {}); // reconnections; failed jobs carry their reason to the coordinator

  const cellWorker = new Worker<CellJobData, CellJobResult>(
    CELL_QUEUE,
    async (job) => {
      const refused = buildMismatch(job.data, 'the coordinator');
      if (refused) {
        options.onRefused(refused);
        throw new Error(`worker ${name} refused the job: ${refused}`);
      }
      const dir = await mkdtemp(join(tmpdir(), 'reptile-cell-'));
      try {
        log(`training run ${job.id} (${job.data.benchmark})`);
        const { code, stderr } = await options.runCell(job.data, dir);
        log(`trained run ${job.id}: exit code ${code}`);
        return { code, stderr, files: await zipDirectory(dir) };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    { connection: address.options as ConnectionOptions, prefix: address.prefix, concurrency: options.threads, lockDuration: options.lockDuration, stalledInterval: options.lockDuration, maxStalledCount: 5 },
  );
  cellWorker.on('error', () => {});
  await Promise.all([worker.waitUntilReady(), cellWorker.waitUntilReady()]);
  log(`worker ${name}: reptile ${identity.packageVersion}, kernel build ${identity.kernelBuild}, ${options.threads} thread${options.threads > 1 ? 's' : ''}, taking jobs from ${address.shown} (prefix ${address.prefix})`);
  return {
    async close() {
      await Promise.all([worker.close(), cellWorker.close()]);
      await threads.close();
      redis.disconnect();
    },
  };
}
