/**
 * The inner-loop contract (core/inner-loop.ts) on worker processes anywhere, through Redis and
 * BullMQ (`reptile train --broker URL`; the workers are `reptile worker`, broker-worker.ts). This
 * process is the coordinator. Per meta-iteration (a version):
 *   1. the parameters (theta, and the inner optimizer's start state in mode 'common') are written
 *      once as one blob with an expiry; workers fetch it once per version;
 *   2. the tasks go out in chunks of `chunk` tasks, one BullMQ job each, with deterministic ids
 *      (keys.ts); the examples travel in the job;
 *   3. a barrier: each chunk's result is written once by a worker (SET NX) and read once here; when
 *      all are in they are reduced in chunk order, exactly as the worker pool reduces its threads'
 *      chunks (the mean of the adapted parameters and of the end states summed in task order), so
 *      parameters and states are bitwise those of `--workers N` whatever the number of workers,
 *      who ran which chunk, retries and duplicates.
 * Faults: a worker killed mid-job leaves its job locked until the lock expires, then BullMQ
 * re-queues it (the worker's --lock-duration); `backupAfterSeconds` queues a backup copy of each
 * unfinished chunk (the first result wins); a job that Redis lost (a restart) is re-published
 * with its parameters; past `deadlineSeconds` the run stops with an error naming the missing
 * chunks, never averaging a partial meta-batch.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { fastHostMean } from '../kernels/host-arithmetic.js';
import { hostTasksResult, type AdaptJob, type AdaptTasksOptions, type AdaptTasksResult, type InnerLoop } from '../core/inner-loop.js';
import type { ParamStore, StateStore } from '../core/param-store.js';
import type { AdaptRecipe, ChunkResult } from '../parallel/protocol.js';
import { connect, type BrokerAddress } from './broker-connection.js';
import { buildIdentity, buildMismatch } from './build-identity.js';
import { decode, encode } from './codec.js';
import { ADAPT_QUEUE, jobId, RunKeys, type ChunkAddress } from './keys.js';
import type { ChunkJobData, ChunkResultBlob, ParamsBlob } from './protocol.js';

export interface BrokerLoopOptions {
  address: BrokerAddress;
  /** The run's id in Redis (the same for every session of a run). */
  run: string;
  /** What every worker thread runs (the pool's recipe). */
  recipe: AdaptRecipe;
  /** The inner loop the recipe selects (config.json's innerLoopUsed). */
  name: InnerLoop['name'];
  /** Tasks per job. */
  chunk: number;
  /** Seconds a meta-iteration may wait for its chunks before the run stops. */
  deadlineSeconds: number;
  /** Seconds after which unfinished chunks get a backup copy (undefined: never). */
  backupAfterSeconds?: number;
  /** Deliveries of a job before it counts as failed (BullMQ's attempts). */
  attempts: number;
  log: (line: string) => void;
  /** Test hook: at this version every chunk is queued twice (a duplicated delivery). */
  duplicateAtVersion?: number;
  /**
   * Asynchronous mode (--broker-async): a meta-iteration applies the first chunks to arrive from
   * this version or up to this many versions before, and drops older ones. Not reproducible.
   */
  maxStaleness?: number;
}

/** A chunk queued in asynchronous mode and not applied or dropped yet. */
interface Outstanding {
  version: number;
  chunk: number;
}

/** How often the barrier looks at its jobs' states while it waits (a lost job, a failed one). */
const CHECK_MS = 1000;

class DeadlineError extends Error {}

export class BrokerLoop implements InnerLoop {
  readonly threadsHelp = true;
  private version = 0;
  private readonly keys: RunKeys;
  private readonly identity = buildIdentity();
  private outstanding: Outstanding[] = [];
  /** Jobs queued again for a chunk whose result came from another build (their ids' suffix). */
  private retries = 0;
  /** Asynchronous mode: chunks applied from an older version, and chunks dropped as too old. */
  private readonly late = { applied: 0, dropped: 0 };

  private constructor(
    private readonly options: BrokerLoopOptions,
    private readonly redis: Redis,
    /** For BLPOP, which holds its connection. */
    private readonly blocking: Redis,
    private readonly queue: Queue,
    readonly generation: number,
  ) {
    this.keys = new RunKeys(options.address.prefix, options.run);
  }

  get name(): InnerLoop['name'] {
    return this.options.name;
  }

  /** Opens the connections and starts a new generation of the run (a resumed run's old jobs and results cannot mix in). */
  static async start(options: BrokerLoopOptions): Promise<BrokerLoop> {
    const redis = connect(options.address);
    const blocking = connect(options.address);
    const queue = new Queue(ADAPT_QUEUE, { connection: options.address.options as ConnectionOptions, prefix: options.address.prefix });
    queue.on('error', () => {}); // reconnections; a command that fails reports it
    const generation = await redis.incr(new RunKeys(options.address.prefix, options.run).generation);
    options.log(`coordinating on ${options.address.shown} (run ${options.run}, generation ${generation}): chunks of ${options.chunk} tasks for 'reptile worker --broker URL'`);
    return new BrokerLoop(options, redis, blocking, queue, generation);
  }

  private get expirySeconds(): number {
    return Math.ceil(this.options.deadlineSeconds) + 60;
  }

  async adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], options: AdaptTasksOptions): Promise<AdaptTasksResult> {
    const { mode } = options;
    if (mode === 'chain') throw new Error("the broker adapts tasks in parallel: its inner state mode is 'common' or 'fresh', not 'chain'");
    const version = ++this.version;
    const { chunk } = this.options;
    const chunks = Array.from({ length: Math.ceil(jobs.length / chunk) }, (_, c) => jobs.slice(c * chunk, (c + 1) * chunk));
    const blob: ParamsBlob = { ...this.identity, recipe: this.options.recipe, theta: theta.host, ...(mode === 'common' && state ? { state: state.host } : {}), mode };
    const version$ = { blob: encode(blob), tasks: chunks.map((c) => encode(c.map(plainJob)).toString('base64')) };
    const parts = this.options.maxStaleness === undefined ? await this.barrier(version, version$.blob, version$.tasks) : await this.asynchronous(version, version$.blob, version$.tasks, this.options.maxStaleness);
    const lossSum = parts.reduce((sum, p) => sum + p.lossSum, 0);
    return hostTasksResult(parts.flatMap((p) => p.phis), parts.flatMap((p) => p.states ?? []), options, lossSum, fastHostMean);
  }

  private address(version: number, chunk: number): ChunkAddress {
    return { run: this.options.run, generation: this.generation, version, chunk };
  }

  /** Writes the version's parameters (unless there) and marks it current; then queues the chunks `which`. */
  private async publish(version: number, blob: Buffer, tasks: string[], which: number[], copy?: string): Promise<void> {
    const paramsKey = this.keys.params(this.generation, version);
    await this.redis.set(paramsKey, blob, 'EX', this.expirySeconds, 'NX');
    await this.redis.set(this.keys.current, `${this.generation}.${version}`);
    const { prefix } = this.options.address;
    await this.queue.addBulk(
      which.map((c) => {
        const data: ChunkJobData = { ...this.address(version, c), ...this.identity, prefix, expirySeconds: this.expirySeconds, params: paramsKey, tasks: tasks[c], ...(this.options.maxStaleness !== undefined ? { maxStaleness: this.options.maxStaleness } : {}) };
        const opts = { jobId: jobId(this.address(version, c), copy), attempts: this.options.attempts, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: true, removeOnFail: { age: 3600 } };
        return { name: 'adapt', data, opts };
      }),
    );
  }

  /** Publishes a version and waits until every chunk's result is in (in chunk order). */
  private async barrier(version: number, blob: Buffer, tasks: string[]): Promise<ChunkResult[]> {
    const n = tasks.length;
    const results: (ChunkResult | undefined)[] = Array.from({ length: n }, () => undefined);
    const missing = () => results.flatMap((r, c) => (r ? [] : [c]));
    const started = Date.now();
    const deadline = started + 1000 * this.options.deadlineSeconds;
    const timed = <T>(p: Promise<T>): Promise<T> => raceDeadline(p, deadline);
    let backedUp = false;
    let lastCheck = Date.now();
    try {
      const all = [...Array(n).keys()];
      if (version !== this.options.duplicateAtVersion) await timed(this.publish(version, blob, tasks, all));
      else for (const c of all) for (const copy of [undefined, 'copy']) await timed(this.publish(version, blob, tasks, [c], copy));
      while (missing().length > 0) {
        // Read each result that is in, once (takeResult).
        for (const c of missing()) {
          const result = await this.takeResult(version, c, timed, () => this.publish(version, blob, tasks, [c], `retry${++this.retries}`));
          if (result) results[c] = result;
        }
        if (missing().length === 0) break;
        if (Date.now() >= deadline) throw new DeadlineError();
        const backupAfter = this.options.backupAfterSeconds;
        if (!backedUp && backupAfter !== undefined && Date.now() - started >= 1000 * backupAfter) {
          backedUp = true;
          await timed(this.publish(version, blob, tasks, missing(), 'backup'));
        }
        if (Date.now() - lastCheck >= CHECK_MS) {
          lastCheck = Date.now();
          await timed(this.checkJobs(version, blob, tasks, missing()));
        }
        await timed(this.blocking.blpop(this.keys.done(this.generation, version), 0.5));
      }
    } catch (error) {
      // The version's leftover jobs become stale: workers skip them.
      await this.redis.set(this.keys.current, 'stopped').catch(() => {});
      if (!(error instanceof DeadlineError)) throw error;
      const absent = missing();
      throw new Error(
        `--broker-deadline ${this.options.deadlineSeconds} s: meta-iteration ${version} (generation ${this.generation}) is missing chunk${absent.length > 1 ? 's' : ''} ${absent.join(', ')} of ${n}` +
          ` (job ids ${absent.map((c) => jobId(this.address(version, c))).join(', ')}); are 'reptile worker --broker URL' processes running and reaching ${this.options.address.shown}?`,
      );
    }
    await this.redis.del(this.keys.params(this.generation, version), this.keys.done(this.generation, version));
    return results as ChunkResult[];
  }

  /**
   * Asynchronous mode: publishes the version's chunks, then applies the first `tasks.length`
   * chunk results to arrive from versions `version - maxStaleness` to `version` (older chunks are
   * dropped, and workers skip them), reduced in (version, chunk) order. No backups or re-publishing.
   */
  private async asynchronous(version: number, blob: Buffer, tasks: string[], maxStaleness: number): Promise<ChunkResult[]> {
    const deadline = Date.now() + 1000 * this.options.deadlineSeconds;
    const timed = <T>(p: Promise<T>): Promise<T> => raceDeadline(p, deadline);
    const oldest = version - maxStaleness;
    const collected: (Outstanding & { result: ChunkResult })[] = [];
    try {
      await timed(this.publish(version, blob, tasks, [...tasks.keys()]));
      this.outstanding.push(...tasks.map((_, chunk) => ({ version, chunk })));
      const tooOld = this.outstanding.filter((o) => o.version < oldest);
      this.late.dropped += tooOld.length;
      this.outstanding = this.outstanding.filter((o) => o.version >= oldest);
      for (const v of new Set(tooOld.map((o) => o.version))) await timed(this.redis.del(this.keys.params(this.generation, v), this.keys.done(this.generation, v)));
      while (collected.length < tasks.length) {
        for (const o of [...this.outstanding]) {
          if (collected.length === tasks.length) break;
          // A refused chunk of this version is queued again (it stays outstanding); an older one is not re-published.
          const requeue = o.version === version ? () => this.publish(version, blob, tasks, [o.chunk], `retry${++this.retries}`) : undefined;
          const result = await this.takeResult(o.version, o.chunk, timed, requeue);
          if (!result) continue;
          this.outstanding.splice(this.outstanding.indexOf(o), 1);
          if (o.version < version) this.late.applied++;
          collected.push({ ...o, result });
        }
        if (collected.length === tasks.length) break;
        if (Date.now() >= deadline) throw new DeadlineError();
        const lists = [...new Set(this.outstanding.map((o) => o.version))].map((v) => this.keys.done(this.generation, v));
        await timed(this.blocking.blpop(...lists, 0.5));
      }
    } catch (error) {
      await this.redis.set(this.keys.current, 'stopped').catch(() => {});
      if (!(error instanceof DeadlineError)) throw error;
      throw new Error(`--broker-deadline ${this.options.deadlineSeconds} s: meta-iteration ${version} (generation ${this.generation}, --broker-async) has ${collected.length} of the ${tasks.length} chunk results it needs; are 'reptile worker --broker URL' processes running and reaching ${this.options.address.shown}?`);
    }
    collected.sort((a, b) => a.version - b.version || a.chunk - b.chunk);
    return collected.map((c) => c.result);
  }

  /**
   * A chunk's result, read once: undefined when it is not in yet. A taken result is replaced by a
   * marker, so that a later delivery's SET NX fails and counts as a duplicate. A result of another
   * build is removed (so that a worker of this build can write the chunk's), counted and, with
   * `requeue`, the chunk is queued again.
   */
  private async takeResult(version: number, chunk: number, timed: <T>(p: Promise<T>) => Promise<T>, requeue: (() => Promise<unknown>) | undefined): Promise<ChunkResult | undefined> {
    const key = this.keys.result(this.generation, version, chunk);
    const bytes = await timed(this.redis.getBuffer(key));
    if (!bytes || bytes.length <= TAKEN.length) return undefined;
    const got = decode<ChunkResultBlob>(bytes);
    const refused = buildMismatch(got, `worker ${got.worker}`);
    if (refused) {
      await timed(this.redis.del(key));
      await timed(this.redis.incr(this.keys.refused));
      this.options.log(`ignored chunk ${chunk} of meta-iteration ${version}: ${refused}`);
      if (requeue) await timed(requeue());
      return undefined;
    }
    await timed(this.redis.set(key, TAKEN, 'KEEPTTL'));
    return got.result;
  }

  /**
   * Looks at the jobs of the missing chunks: one that failed for good stops the run with the
   * worker's reason; one that Redis no longer has (it restarted) is published again.
   */
  private async checkJobs(version: number, blob: Buffer, tasks: string[], missing: number[]): Promise<void> {
    const lost: number[] = [];
    for (const c of missing) {
      const id = jobId(this.address(version, c));
      const state = await this.queue.getJobState(id);
      if (state === 'failed') {
        const job = await this.queue.getJob(id);
        throw new Error(`chunk ${c} of meta-iteration ${version} failed on the workers after ${job?.attemptsMade ?? '?'} attempts: ${job?.failedReason ?? 'no reason recorded'}`);
      }
      if (state === 'unknown' && !(await this.redis.exists(this.keys.result(this.generation, version, c)))) lost.push(c);
    }
    if (lost.length > 0) {
      this.options.log(`re-publishing meta-iteration ${version}'s chunk${lost.length > 1 ? 's' : ''} ${lost.join(', ')} (the queue lost ${lost.length > 1 ? 'them' : 'it'}: did Redis restart?)`);
      await this.publish(version, blob, tasks, lost);
    }
  }

  /** The deliveries ignored so far in this run (all its generations). */
  async ignored(): Promise<{ duplicates: number; stale: number; refused: number }> {
    const [d, s, r] = await this.redis.mget(this.keys.duplicates, this.keys.stale, this.keys.refused);
    return { duplicates: Number(d ?? 0), stale: Number(s ?? 0), refused: Number(r ?? 0) };
  }

  async close(): Promise<void> {
    try {
      const { duplicates, stale, refused } = await raceDeadline(this.ignored(), Date.now() + 2000);
      this.options.log(`broker: ${this.version} meta-iterations in generation ${this.generation}; ignored so far in this run: ${duplicates} duplicate, ${stale} stale and ${refused} refused deliveries`);
      if (this.options.maxStaleness !== undefined) this.options.log(`broker-async: ${this.late.applied} chunks applied in a later meta-iteration than their own, ${this.late.dropped} dropped as more than ${this.options.maxStaleness} versions old`);
    } catch {
      // Redis is gone: nothing to report.
    }
    // Jobs still queued (asynchronous mode's leftovers) become stale: workers skip them.
    await raceDeadline(this.redis.set(this.keys.current, 'stopped'), Date.now() + 2000).catch(() => {});
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
    this.blocking.disconnect();
  }
}

/** What a taken result is replaced by (shorter than any encoded result). */
const TAKEN = 'taken';

/** A job as plain data: only the examples and minibatches travel. */
function plainJob(job: AdaptJob): AdaptJob {
  return { count: job.count, x: job.x, y: job.y, batches: job.batches };
}

function raceDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
