/**
 * The fused MLP inner loop (native/fused-mlp.c, built to WebAssembly SIMD by
 * scripts/build-wasm.sh): all k optimizer steps of one task in one call, on host arrays.
 *
 * It covers the article's models and settings: an MLP (ReLU or tanh) with cross-entropy on
 * integer labels or squared error, mean or sum over the minibatch, and SGD, momentum SGD or
 * TF1-form Adam. `FusedMlp.create` returns undefined for anything else, and callers keep the
 * TensorFlow.js path. No gradient tape sees it: first-order inner loops only (Reptile, evaluation).
 *
 * Each instance owns a WebAssembly instance and its memory (one per thread); the compiled module
 * is shared. Results agree with the tfjs path to float32 rounding, not bitwise (a different order
 * of additions), and are bitwise the same on every thread and backend.
 */
import type { HostParams } from '../core/params.js';
import type { ModelSpec } from '../nn/model.js';
import type { LossSpec } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import type { HostOptimizerState } from '../parallel/protocol.js';
import { Arena, fusedInstance, splitFlat, type FusedExports } from './fused-wasm.js';

const ACTIVATIONS = { relu: 0, tanh: 1 } as const;
const LOSSES: Record<string, number> = { 'cross-entropy/mean': 0, 'cross-entropy/sum': 1, 'mse/mean': 2, 'mse/sum': 3 };
const MAX_LAYERS = 63;

export type FusedOptimizerConfig = Pick<Optimizer, 'name' | 'config'>;

/** The optimizer state on the host, as the adaptation workers exchange it. */
export type FusedState = HostOptimizerState;

/** One task: its examples and each step's minibatch (example indices, all the same size). */
export interface FusedJob {
  count: number;
  x: Float32Array;
  y: Float32Array | Int32Array;
  batches: readonly (readonly number[])[];
}

export interface FusedResult {
  phi: HostParams;
  state: FusedState;
  /** Sum over steps of the minibatch losses. */
  lossSum: number;
}

/** Whether the fused loop covers this model, loss and optimizer. */
export function fusedMlpSupports(model: ModelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): boolean {
  if (model.kind !== 'mlp' || !loss || !(`${loss.name}/${loss.reduction}` in LOSSES)) return false;
  if (model.sizes.length - 1 > MAX_LAYERS || !(model.activation in ACTIVATIONS)) return false;
  const outputs = model.sizes[model.sizes.length - 1];
  if (loss.name === 'cross-entropy' ? targetSize !== 1 : targetSize !== outputs) return false;
  return optimizer.name === 'adam' || optimizer.name === 'sgd';
}

/** Byte offsets of the regions of an instance's memory (fused-wasm.ts Arena). */
interface Layout {
  sizes: number;
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

export class FusedMlp {
  private readonly exports: FusedExports;
  private readonly arena: Arena;
  private readonly names: string[];
  private readonly shapes: number[][];
  /** Values per parameter, in the kernel's order. */
  private readonly counts: number[];
  private readonly sizes: number[];
  private readonly paramCount: number;
  private readonly activation: keyof typeof ACTIVATIONS;

  private constructor(
    exports: FusedExports,
    spec: Extract<ModelSpec, { kind: 'mlp' }>,
    private readonly loss: LossSpec,
    private readonly optimizer: FusedOptimizerConfig,
  ) {
    this.exports = exports;
    this.arena = new Arena(this.exports);
    this.sizes = spec.sizes.slice();
    this.activation = spec.activation;
    this.names = [];
    this.shapes = [];
    for (let l = 0; l + 1 < this.sizes.length; l++) {
      this.names.push(`dense${l}/kernel`, `dense${l}/bias`);
      this.shapes.push([this.sizes[l], this.sizes[l + 1]], [this.sizes[l + 1]]);
    }
    this.counts = this.shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    this.paramCount = this.counts.reduce((a, b) => a + b, 0);
  }

  /** A fused loop for this setting, or undefined when it is not covered (use the tfjs path). */
  static create(model: ModelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): FusedMlp | undefined {
    if (model.kind !== 'mlp' || !fusedMlpSupports(model, loss, optimizer, targetSize)) return undefined;
    const exports = fusedInstance();
    return exports ? new FusedMlp(exports, model, loss!, optimizer) : undefined;
  }

  private slotNames(): string[] {
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

  /** Copies a host parameter set into `target` in the kernel's layout (W0, b0, W1, b1, ...). */
  private pack(host: HostParams, target: Float32Array, what: string): void {
    let offset = 0;
    this.names.forEach((name, i) => {
      const at = host.names.indexOf(name);
      const size = this.counts[i];
      if (at < 0 || host.values[at].length !== size) throw new Error(`fused MLP: ${what} has no ${name} of ${size} values`);
      target.set(host.values[at], offset);
      offset += size;
    });
  }

  private unpack(source: Float32Array): HostParams {
    return splitFlat(source, this.names, this.shapes);
  }

  /** The kernel indexes memory with these: out-of-range values would read or write outside the task. */
  private checkJobs(jobs: readonly FusedJob[]): void {
    const inputs = this.sizes[0];
    const outputs = this.sizes[this.sizes.length - 1];
    const classification = this.loss.name === 'cross-entropy';
    for (const job of jobs) {
      const batch = job.batches.length > 0 ? job.batches[0].length : 0;
      if (job.batches.some((b) => b.length !== batch)) throw new Error('fused MLP: every minibatch of a task must have the same size');
      if (job.x.length !== job.count * inputs) throw new Error(`fused MLP: ${job.count} examples need ${job.count * inputs} inputs, got ${job.x.length}`);
      const targets = job.count * (classification ? 1 : outputs);
      if (job.y.length !== targets) throw new Error(`fused MLP: ${job.count} examples need ${targets} targets, got ${job.y.length}`);
      if (classification && job.y.some((label) => !Number.isInteger(label) || label < 0 || label >= outputs)) {
        throw new Error(`fused MLP: class labels must be integers in [0, ${outputs})`);
      }
      for (const b of job.batches) for (const row of b) if (!Number.isInteger(row) || row < 0 || row >= job.count) throw new Error(`fused MLP: example index ${row} is not in [0, ${job.count})`);
    }
  }

  /**
   * Lays out the instance's memory for these jobs: fixed regions first (sizes, parameters, the
   * running sum, theta, optimizer slots), then room for the largest job. Views are taken after.
   */
  private layout(jobs: readonly FusedJob[], commonStart = false): Layout {
    const layers = this.sizes.length - 1;
    const P = this.paramCount;
    const arena = this.arena;
    const most = (f: (j: FusedJob) => number) => Math.max(1, ...jobs.map(f));
    const batch = most((j) => (j.batches.length > 0 ? j.batches[0].length : 0));
    arena.reset();
    const at = {
      sizes: arena.alloc(4 * (layers + 1)),
      params: arena.alloc(4 * P),
      sum: jobs.length > 1 ? arena.alloc(4 * P) : 0,
      theta: jobs.length > 1 ? arena.alloc(4 * P) : 0,
      slots: this.slotNames().map(() => arena.alloc(4 * P)),
      startSlots: commonStart && jobs.length > 1 ? this.slotNames().map(() => arena.alloc(4 * P)) : [],
      slotSums: commonStart && jobs.length > 1 ? this.slotNames().map(() => arena.alloc(4 * P)) : [],
      rates: arena.alloc(4 * most((j) => j.batches.length)),
      x: arena.alloc(4 * most((j) => j.x.length)),
      y: arena.alloc(4 * most((j) => j.y.length)),
      rows: arena.alloc(4 * most((j) => j.batches.length * (j.batches[0]?.length ?? 0))),
      work: 0,
    };
    arena.i32(at.sizes, layers + 1).set(this.sizes); // work_floats reads the sizes
    at.work = arena.alloc(4 * this.exports.work_floats(layers, at.sizes, batch));
    return at;
  }

  /** Writes `state`'s slots (zeros when undefined) into the slot regions. */
  private loadState(at: Layout, state: FusedState | undefined): void {
    this.slotNames().forEach((name, i) => {
      const view = this.arena.f32(at.slots[i], this.paramCount);
      if (state) this.pack(state.slots[name] ?? { names: [], shapes: [], values: [] }, view, `optimizer slot ${name}`);
      else view.fill(0);
    });
  }

  private readState(at: Layout, step: number): FusedState {
    const slots: Record<string, HostParams> = {};
    this.slotNames().forEach((name, i) => (slots[name] = this.unpack(this.arena.f32(at.slots[i], this.paramCount))));
    return { step, slots };
  }

  /** Runs one job's steps on the parameter and slot regions in place; returns its summed loss. */
  private run(at: Layout, job: FusedJob, firstStep: number): number {
    const steps = job.batches.length;
    const batch = steps > 0 ? job.batches[0].length : 0;
    const arena = this.arena;
    arena.f32(at.rates, steps).set(this.rates(firstStep, steps));
    arena.f32(at.x, job.x.length).set(job.x);
    if (job.y instanceof Int32Array) arena.i32(at.y, job.y.length).set(job.y);
    else arena.f32(at.y, job.y.length).set(job.y);
    const rows = arena.i32(at.rows, steps * batch);
    job.batches.forEach((b, s) => rows.set(b, s * batch));
    const c = this.optimizer.config;
    const kind = this.optimizer.name === 'adam' ? 2 : at.slots.length > 0 ? 1 : 0;
    const classification = this.loss.name === 'cross-entropy';
    return this.exports.mlp_adapt(
      this.sizes.length - 1, at.sizes, ACTIVATIONS[this.activation],
      LOSSES[`${this.loss.name}/${this.loss.reduction}`], kind, at.rates,
      (c.momentum as number | undefined) ?? 0, (c.beta1 as number | undefined) ?? 0, (c.beta2 as number | undefined) ?? 0, (c.epsilon as number | undefined) ?? 0,
      at.params, at.slots[0] ?? 0, at.slots[1] ?? 0, at.x, classification ? 0 : at.y, classification ? at.y : 0, at.rows, steps, batch, at.work,
    );
  }

  /** Adapts `theta` to one task from `state` (a fresh state when undefined). Inputs are not changed. */
  adapt(theta: HostParams, state: FusedState | undefined, job: FusedJob): FusedResult {
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
  adaptSequence(theta: HostParams, state: FusedState | undefined, jobs: readonly FusedJob[], inner: 'chain' | 'common' | 'fresh'): { mean: HostParams; state: FusedState | undefined; lossSum: number } {
    if (jobs.length === 0) throw new Error('fused MLP: adaptSequence needs at least one job');
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
        else this.exports.add_into(to, from, P);
      }
    });
    if (!many) return { mean: this.unpack(arena.f32(at.params, P)), state: inner === 'fresh' ? undefined : this.readState(at, step), lossSum };
    this.exports.divide_by(at.sum, jobs.length, P);
    const mean = this.unpack(arena.f32(at.sum, P));
    if (inner === 'fresh') return { mean, state: undefined, lossSum };
    if (inner === 'common') at.slotSums.forEach((sum, i) => (this.exports.divide_by(sum, jobs.length, P), copy(sum, at.slots[i])));
    return { mean, state: this.readState(at, step), lossSum };
  }
}
