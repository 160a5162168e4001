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
import type { ModelSpec } from '../nn/model.js';
import type { KernelSpec } from '../nn/kernel-equivalent.js';
import type { LossSpec } from '../nn/losses.js';
import type { AdaptJob } from '../core/inner-loop.js';
import { FusedLoop, type FusedLayout, type FusedOptimizerConfig } from './fused-loop.js';
import { Arena, fusedInstance, wasmMemory, type FusedExports } from './fused-wasm.js';

export type { FusedOptimizerConfig, FusedResult, FusedState } from './fused-loop.js';

const ACTIVATIONS = { relu: 0, tanh: 1 } as const;
const LOSSES: Record<string, number> = { 'cross-entropy/mean': 0, 'cross-entropy/sum': 1, 'mse/mean': 2, 'mse/sum': 3 };
const MAX_LAYERS = 63;

/** Whether the fused loop covers this model, loss and optimizer. */
export function fusedMlpSupports(model: KernelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): boolean {
  if (model.kind !== 'mlp' || !loss || !(`${loss.name}/${loss.reduction}` in LOSSES)) return false;
  if (model.sizes.length - 1 > MAX_LAYERS || !(model.activation in ACTIVATIONS)) return false;
  const outputs = model.sizes[model.sizes.length - 1];
  if (loss.name === 'cross-entropy' ? targetSize !== 1 : targetSize !== outputs) return false;
  return optimizer.name === 'adam' || optimizer.name === 'sgd';
}

function mlpParams(sizes: readonly number[]): { names: string[]; shapes: number[][] } {
  const names: string[] = [];
  const shapes: number[][] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    names.push(`dense${l}/kernel`, `dense${l}/bias`);
    shapes.push([sizes[l], sizes[l + 1]], [sizes[l + 1]]);
  }
  return { names, shapes };
}

export class FusedMlp extends FusedLoop {
  readonly name = 'fused-mlp';
  /** A task takes about 0.5 ms: the pool's messages, copies and reduction cost more than they save. */
  readonly threadsHelp = false;
  protected readonly io: { what: string; inputs: number; outputs: number; classification: boolean };
  private readonly sizes: number[];
  private readonly activation: keyof typeof ACTIVATIONS;
  /** The layer sizes' region (work_floats and mlp_adapt read them), set by allocWork. */
  private sizesAt = 0;

  private constructor(
    private readonly exports: FusedExports,
    spec: Extract<ModelSpec, { kind: 'mlp' }>,
    private readonly loss: LossSpec,
    optimizer: FusedOptimizerConfig,
    paramNames: readonly string[] | undefined,
  ) {
    const { names, shapes } = mlpParams(spec.sizes);
    super(new Arena(wasmMemory(exports)), { addInto: (a, x, n) => exports.add_into(a, x, n), divideBy: (a, d, n) => exports.divide_by(a, d, n) }, paramNames ?? names, shapes, optimizer);
    this.sizes = spec.sizes.slice();
    this.activation = spec.activation;
    this.io = { what: 'fused MLP', inputs: this.sizes[0], outputs: this.sizes[this.sizes.length - 1], classification: loss.name === 'cross-entropy' };
  }

  /**
   * A fused loop for this setting, or undefined when it is not covered (use the tfjs path).
   * `paramNames`: the model's names for the kernel's parameters, in its order (a converted
   * tfjs-layers model's; default the library MLP's `dense<l>/kernel`, `dense<l>/bias`).
   */
  static create(model: KernelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number, paramNames?: readonly string[]): FusedMlp | undefined {
    if (model.kind !== 'mlp' || !fusedMlpSupports(model, loss, optimizer, targetSize)) return undefined;
    const exports = fusedInstance();
    return exports ? new FusedMlp(exports, model, loss!, optimizer, paramNames) : undefined;
  }

  protected allocWork(batch: number): number {
    const layers = this.sizes.length - 1;
    this.sizesAt = this.arena.alloc(4 * (layers + 1));
    this.arena.i32(this.sizesAt, layers + 1).set(this.sizes);
    return this.arena.alloc(4 * this.exports.work_floats(layers, this.sizesAt, batch));
  }

  protected runKernel(at: FusedLayout, _job: AdaptJob, steps: number, batch: number): number {
    const c = this.optimizer.config;
    const classification = this.loss.name === 'cross-entropy';
    return this.exports.mlp_adapt(
      this.sizes.length - 1, this.sizesAt, ACTIVATIONS[this.activation],
      LOSSES[`${this.loss.name}/${this.loss.reduction}`], this.optimizerKind(), at.rates,
      (c.momentum as number | undefined) ?? 0, (c.beta1 as number | undefined) ?? 0, (c.beta2 as number | undefined) ?? 0, (c.epsilon as number | undefined) ?? 0,
      at.params, at.slots[0] ?? 0, at.slots[1] ?? 0, at.x, classification ? 0 : at.y, classification ? at.y : 0, at.rows, steps, batch, at.work,
    );
  }
}
