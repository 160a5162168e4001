/**
 * What every fused inner loop shares (fused-mlp.ts on WebAssembly, fused-cnn.ts on the native
 * addon or its WebAssembly build): the inner-loop contract (core/inner-loop.ts) on host arrays,
 * with a model's parameters and optimizer slots packed into one flat region of the kernel's
 * memory, the learning rate of each step, and a whole meta-batch in one call (`adaptSequence`):
 * theta, the inner state and the running mean stay in the kernel's memory. A subclass says how
 * its model's parameters are named and shaped, lays out its scratch memory and calls its kernel
 * for one job.
 */
import { fastHostMean } from './host-arithmetic.js';
import type { HostParams } from '../core/params.js';
import type { HostOptimizerState } from '../core/optimizer-state.js';
import { ParamStore, StateStore } from '../core/param-store.js';
import { hostTasksResult, type AdaptJob, type AdaptTasksOptions, type AdaptTasksResult, type InnerLoop, type InnerStateMode } from '../core/inner-loop.js';
import type { Optimizer } from '../nn/optimizers.js';
import { splitFlat, type Arena } from './fused-wasm.js';

export type FusedOptimizerConfig = Pick<Optimizer, 'name' | 'config'>;

/** The optimizer state on the host. */
export type FusedState = HostOptimizerState;

export interface FusedResult {
  phi: HostParams;
  state: FusedState;
  /** Sum over steps of the minibatch losses. */
  lossSum: number;
}

/** The element-wise float32 arithmetic of the meta-update, in the kernel's memory (offsets in bytes). */
export interface KernelArithmetic {
  addInto(acc: number, x: number, n: number): void;
  divideBy(acc: number, d: number, n: number): void;
}

/** Byte offsets of the regions every fused loop has. */
export interface FusedLayout {
  params: number;
  sum: number;
  theta: number;
  slots: number[];
  /** 'common' sequences: the start state, and the running sum of the end states. */
  startSlots: number[];
  slotSums: number[];
  rates: number;
  x: number;
  y: number;
  rows: number;
  work: number;
}

export abstract class FusedLoop implements InnerLoop {
  /** Values per parameter, in the kernel's order. */
  protected readonly counts: number[];
  protected readonly paramCount: number;

  protected constructor(
    protected readonly arena: Arena,
    private readonly arithmetic: KernelArithmetic,
    protected readonly names: readonly string[],
    protected readonly shapes: readonly (readonly number[])[],
    protected readonly optimizer: FusedOptimizerConfig,
  ) {
    this.counts = this.shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    this.paramCount = this.counts.reduce((a, b) => a + b, 0);
  }

  /** The kernel's name, as config.json's innerLoopUsed records it. */
  abstract readonly name: 'fused-mlp' | 'fused-cnn-native' | 'fused-cnn-wasm';
  /**
   * Whether a meta-batch's tasks run faster on the worker pool's threads than one after another
   * in one thread (measured: docs/performance.md). When not, the CLI starts no pool and Reptile
   * computes the pool's numbers in one thread.
   */
  abstract readonly threadsHelp: boolean;
  /** What the kernel's examples are: values per input, outputs, and whether targets are class labels. */
  protected abstract readonly io: { what: string; inputs: number; outputs: number; classification: boolean };
  /** Allocates the kernel's scratch for minibatches of `batch` (after every other region) and returns its offset. */
  protected abstract allocWork(batch: number): number;
  /** Runs one job's steps on the parameter and slot regions in place (its data already copied in); returns its summed loss. */
  protected abstract runKernel(at: FusedLayout, job: AdaptJob, steps: number, batch: number): number;

  /** The kernel's optimizer code: 0 SGD, 1 momentum, 2 Adam. */
  protected optimizerKind(): number {
    return this.optimizer.name === 'adam' ? 2 : this.slotNames().length > 0 ? 1 : 0;
  }

  protected slotNames(): string[] {
    if (this.optimizer.name === 'adam') return ['m', 'v'];
    return ((this.optimizer.config.momentum as number | undefined) ?? 0) > 0 ? ['velocity'] : [];
  }

  /** Learning rate (SGD) or step size (Adam) of each step, as src/nn/optimizers.ts computes it. */
  private rates(firstStep: number, steps: number): Float32Array {
    const c = this.optimizer.config;
    const lr = c.learningRate as number;
    const out = new Float32Array(steps);
    for (let s = 0; s < steps; s++) {
      if (this.optimizer.name !== 'adam') out[s] = lr;
      else {
        const t = firstStep + s + 1;
        out[s] = (lr * Math.sqrt(1 - (c.beta2 as number) ** t)) / (1 - (c.beta1 as number) ** t);
      }
    }
    return out;
  }

  /** Copies host parameters into `target` in the kernel's layout. */
  protected packParams(host: HostParams, target: Float32Array): void {
    this.pack(host, target, 'params');
  }

  /** Copies a host parameter set into `target` in the kernel's layout. */
  private pack(host: HostParams, target: Float32Array, what: string): void {
    let offset = 0;
    this.names.forEach((name, i) => {
      const at = host.names.indexOf(name);
      const size = this.counts[i];
      if (at < 0 || host.values[at].length !== size) throw new Error(`${this.io.what}: ${what} has no ${name} of ${size} values`);
      target.set(host.values[at], offset);
      offset += size;
    });
  }

  private unpack(source: Float32Array): HostParams {
    return splitFlat(source, this.names, this.shapes);
  }

  /** The kernel indexes memory with these: out-of-range values would read or write outside the task. */
  private checkJobs(jobs: readonly AdaptJob[]): void {
    const { what, inputs, outputs, classification } = this.io;
    for (const job of jobs) {
      const batch = job.batches.length > 0 ? job.batches[0].length : 0;
      if (job.batches.some((b) => b.length !== batch)) throw new Error(`${what}: every minibatch of a task must have the same size`);
      if (job.x.length !== job.count * inputs) throw new Error(`${what}: ${job.count} examples need ${job.count * inputs} inputs, got ${job.x.length}`);
      const targets = job.count * (classification ? 1 : outputs);
      if (job.y.length !== targets) throw new Error(`${what}: ${job.count} examples need ${targets} targets, got ${job.y.length}`);
      if (classification && job.y.some((label) => !Number.isInteger(label) || label < 0 || label >= outputs)) {
        throw new Error(`${what}: class labels must be integers in [0, ${outputs})`);
      }
      for (const b of job.batches) for (const row of b) if (!Number.isInteger(row) || row < 0 || row >= job.count) throw new Error(`${what}: example index ${row} is not in [0, ${job.count})`);
    }
  }

  /**
   * Lays out the memory for these jobs: fixed regions first (parameters, the running sum, theta,
   * optimizer slots), then room for the largest job, then the kernel's scratch. Views are taken after.
   */
  private layout(jobs: readonly AdaptJob[], commonStart: boolean): FusedLayout {
    const P = this.paramCount;
    const arena = this.arena;
    const most = (f: (j: AdaptJob) => number) => Math.max(1, ...jobs.map(f));
    const batch = most((j) => (j.batches.length > 0 ? j.batches[0].length : 0));
    const slots = this.slotNames();
    arena.reset();
    const at: FusedLayout = {
      params: arena.alloc(4 * P),
      sum: jobs.length > 1 ? arena.alloc(4 * P) : 0,
      theta: jobs.length > 1 ? arena.alloc(4 * P) : 0,
      slots: slots.map(() => arena.alloc(4 * P)),
      startSlots: commonStart && jobs.length > 1 ? slots.map(() => arena.alloc(4 * P)) : [],
      slotSums: commonStart && jobs.length > 1 ? slots.map(() => arena.alloc(4 * P)) : [],
      rates: arena.alloc(4 * most((j) => j.batches.length)),
      x: arena.alloc(4 * most((j) => j.x.length)),
      y: arena.alloc(4 * most((j) => j.y.length)),
      rows: arena.alloc(4 * most((j) => j.batches.length * (j.batches[0]?.length ?? 0))),
      work: 0,
    };
    at.work = this.allocWork(batch);
    return at;
  }

  /** Writes `state`'s slots (zeros when undefined) into the slot regions. */
  private loadState(at: FusedLayout, state: FusedState | undefined): void {
    this.slotNames().forEach((name, i) => {
      const view = this.arena.f32(at.slots[i], this.paramCount);
      if (state) this.pack(state.slots[name] ?? { names: [], shapes: [], values: [] }, view, `optimizer slot ${name}`);
      else view.fill(0);
    });
  }

  private readState(at: FusedLayout, step: number): FusedState {
    const slots: Record<string, HostParams> = {};
    this.slotNames().forEach((name, i) => (slots[name] = this.unpack(this.arena.f32(at.slots[i], this.paramCount))));
    return { step, slots };
  }

  /** Copies one job's data into its regions and runs its steps; returns its summed loss. */
  private run(at: FusedLayout, job: AdaptJob, firstStep: number): number {
    const steps = job.batches.length;
    const batch = steps > 0 ? job.batches[0].length : 0;
    const arena = this.arena;
    arena.f32(at.rates, steps).set(this.rates(firstStep, steps));
    arena.f32(at.x, job.x.length).set(job.x);
    if (job.y instanceof Int32Array) arena.i32(at.y, job.y.length).set(job.y);
    else arena.f32(at.y, job.y.length).set(job.y);
    const rows = arena.i32(at.rows, steps * batch);
    job.batches.forEach((b, s) => rows.set(b, s * batch));
    return this.runKernel(at, job, steps, batch);
  }

  /** Adapts `theta` to one task from `state` (a fresh state when undefined). Inputs are not changed. */
  adapt(theta: HostParams, state: FusedState | undefined, job: AdaptJob): FusedResult {
    const r = this.adaptSequence(theta, state, [job], 'chain');
    return { phi: r.mean, state: r.state!, lossSum: r.lossSum };
  }

  /**
   * A Reptile meta-iteration in one call: adapts `theta` to each job in turn and returns the mean
   * of the adapted parameters (summed in job order, then divided: the same bits as
   * core/host-params.ts hostMean of the per-job results). The optimizer state, by `inner`:
   * - 'chain': runs on from job to job, starting at `state`; the last job's comes back (the
   *   original code's serial loop);
   * - 'common': every job starts from `state`; the mean of their end states comes back (what the
   *   worker pool computes, in one thread);
   * - 'fresh': every job starts from a fresh state; none comes back.
   * Parameters and states stay in the kernel's memory between jobs.
   */
  adaptSequence(theta: HostParams, state: FusedState | undefined, jobs: readonly AdaptJob[], inner: InnerStateMode): { mean: HostParams; state: FusedState | undefined; lossSum: number } {
    if (jobs.length === 0) throw new Error(`${this.io.what}: adaptSequence needs at least one job`);
    this.checkJobs(jobs);
    const at = this.layout(jobs, inner === 'common');
    const P = this.paramCount;
    const arena = this.arena;
    const many = jobs.length > 1;
    const copy = (from: number, to: number) => arena.f32(to, P).set(arena.f32(from, P));
    this.pack(theta, arena.f32(many ? at.theta : at.params, P), 'theta');
    this.loadState(at, inner === 'fresh' ? undefined : state);
    if (inner === 'common' && many) at.slots.forEach((slot, i) => copy(slot, at.startSlots[i]));
    const first = inner === 'fresh' ? 0 : (state?.step ?? 0);
    let step = first;
    let lossSum = 0;
    jobs.forEach((job, t) => {
      if (many) copy(at.theta, at.params);
      if (inner === 'fresh') this.loadState(at, undefined);
      if (inner === 'common' && many && t > 0) at.slots.forEach((slot, i) => copy(at.startSlots[i], slot));
      lossSum += this.run(at, job, inner === 'chain' ? step : first);
      step = (inner === 'chain' ? step : first) + job.batches.length;
      if (!many) return;
      const sums: [number, number][] = [[at.params, at.sum], ...(inner === 'common' ? at.slots.map((slot, i): [number, number] => [slot, at.slotSums[i]]) : [])];
      for (const [from, to] of sums) {
        if (t === 0) copy(from, to);
        else this.arithmetic.addInto(to, from, P);
      }
    });
    if (!many) return { mean: this.unpack(arena.f32(at.params, P)), state: inner === 'fresh' ? undefined : this.readState(at, step), lossSum };
    this.arithmetic.divideBy(at.sum, jobs.length, P);
    const mean = this.unpack(arena.f32(at.sum, P));
    if (inner === 'fresh') return { mean, state: undefined, lossSum };
    if (inner === 'common') at.slotSums.forEach((sum, i) => (this.arithmetic.divideBy(sum, jobs.length, P), copy(sum, at.slots[i])));
    return { mean, state: this.readState(at, step), lossSum };
  }

  /** The contract: the mean in one kernel sequence; each task's result one job at a time. */
  async adaptTasks(theta: ParamStore, state: StateStore | undefined, jobs: readonly AdaptJob[], { mode, keep = 'mean' }: AdaptTasksOptions): Promise<AdaptTasksResult> {
    const start = mode === 'fresh' ? undefined : state?.host;
    if (keep === 'mean') {
      const r = this.adaptSequence(theta.host, start, jobs, mode);
      return { mean: ParamStore.ofHost(r.mean), state: r.state && StateStore.ofHost(r.state), lossSum: r.lossSum };
    }
    const each: FusedResult[] = [];
    for (const job of jobs) each.push(this.adapt(theta.host, mode === 'chain' ? (each.at(-1)?.state ?? start) : start, job));
    return hostTasksResult(each.map((r) => r.phi), each.map((r) => r.state), { mode, keep }, each.reduce((sum, r) => sum + r.lossSum, 0), fastHostMean);
  }
}
