/**
 * The fused CNN inner loop (native/fused-cnn.c): all k optimizer steps of one task of the paper's
 * Omniglot CNN in one call, on host arrays. It runs in the native addon (fused-native.ts: the
 * machine's widest vectors and FMA) where that was built, else in the same C built to WebAssembly
 * SIMD (fused-cnn-wasm.ts: pages, machines without a compiler).
 *
 * It covers the block family of src/nn/conv.ts (ConvBlocksSpec: both variants, and converted models
 * that nn/kernel-equivalent.ts matches): 1 to 16 blocks of [3x3 conv stride 1 or 2, batch norm
 * with batch statistics, optional 2x2 max-pool, ReLU], then dense, with any input shape, any class
 * count and filters a multiple of 16 up to 256, softmax cross-entropy on integer labels (mean or
 * sum), and SGD, momentum SGD or TF1-form Adam. `FusedCnn.create` returns undefined for anything
 * else, and callers keep the TensorFlow.js path. The architecture reaches C as a descriptor: the
 * block count and two bit masks (the blocks with stride 2, the blocks that pool).
 *
 * Results agree with the tfjs path to float32 rounding (the machine's fused multiply-adds and a
 * different order of additions), except the conv biases: batch norm cancels them, so their
 * gradient is rounding noise, which Adam's normalised step turns into +-lr moves that differ from
 * tfjs's but change no output. With one build the results are bitwise repeatable; the native and
 * wasm builds differ by rounding (FMA, vector width).
 */
import type { HostParams } from '../core/params.js';
import type { LossSpec } from '../nn/losses.js';
import { convBlocks, convFeatureShape, type ConvBlocksSpec } from '../nn/conv.js';
import type { KernelSpec } from '../nn/kernel-equivalent.js';
import type { AdaptJob } from '../core/inner-loop.js';
import { FusedLoop, type FusedLayout, type FusedOptimizerConfig } from './fused-loop.js';
import { Arena, FUSED_CNN_MODULE, wasmMemory, type KernelMemory } from './fused-wasm.js';
import { nativeKernels, NativeMemory, type NativeExports } from './fused-native.js';

const LOSSES: Record<string, number> = { 'cross-entropy/mean': 0, 'cross-entropy/sum': 1 };
/** The kernel's inner loops step through filters a vector at a time (up to 16 floats). */
const FILTER_MULTIPLE = 16;
/** Batch norm keeps 64 vectors per channel statistic on the stack: 256 filters at the wasm build's 4 floats per vector. */
const MAX_FILTERS = 256;
/** The blocks the descriptor's bit masks name (MAX_BLOCKS in fused-cnn.c). */
const MAX_BLOCKS = 16;

/** The model's architecture as blocks, if it is a CNN of the family. */
function architecture(model: KernelSpec): ConvBlocksSpec | undefined {
  return model.kind === 'conv' ? convBlocks(model) : model.kind === 'conv-blocks' ? model : undefined;
}

/** Whether the fused CNN covers this model, loss and optimizer (whether or not the addon is built). */
export function fusedCnnSupports(model: KernelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): boolean {
  const arch = architecture(model);
  if (!arch || arch.filters % FILTER_MULTIPLE !== 0 || arch.filters > MAX_FILTERS || arch.blocks.length < 1 || arch.blocks.length > MAX_BLOCKS) return false;
  if (!loss || !(`${loss.name}/${loss.reduction}` in LOSSES) || targetSize !== 1) return false;
  return optimizer.name === 'adam' || optimizer.name === 'sgd';
}

/** Parameter names and shapes in the kernel's order, as src/nn/conv.ts names them. */
function convParams(spec: ConvBlocksSpec): { names: string[]; shapes: number[][] } {
  const names: string[] = [];
  const shapes: number[][] = [];
  let inC = spec.inputShape[2];
  for (let l = 0; l < spec.blocks.length; l++) {
    names.push(`conv${l}/kernel`, `conv${l}/bias`, `bn${l}/gamma`, `bn${l}/beta`);
    shapes.push([3, 3, inC, spec.filters], [spec.filters], [spec.filters], [spec.filters]);
    inC = spec.filters;
  }
  const features = convFeatureShape(spec).reduce((a, b) => a * b, 1);
  names.push('dense/kernel', 'dense/bias');
  shapes.push([features, spec.classes], [spec.classes]);
  return { names, shapes };
}

/** The kernel's entry points, with the native addon's or the wasm instance's calling convention hidden. */
interface CnnBackend {
  kernel: 'fused-cnn-native' | 'fused-cnn-wasm';
  memory: KernelMemory;
  paramCount(dims: readonly number[]): number;
  workFloats(dims: readonly number[], batch: number): number;
  /** cnn_adapt's arguments after the shapes; `count` (examples) lets the addon check sizes. */
  adapt(dims: readonly number[], args: readonly number[], count: number): number;
  /** cnn_predict's arguments after the shapes: params, x, n, logits, work. */
  predict(dims: readonly number[], args: readonly number[]): void;
  addInto(acc: number, x: number, n: number): void;
  divideBy(acc: number, d: number, n: number): void;
}

function nativeBackend(addon: NativeExports): CnnBackend {
  const memory = new NativeMemory();
  return {
    kernel: 'fused-cnn-native',
    memory,
    paramCount: (d) => addon.cnn_param_count(...d),
    workFloats: (d, batch) => addon.cnn_work_floats(...d, batch),
    adapt: (d, args, count) => addon.cnn_adapt(memory.buffer(), ...d, ...args, count),
    predict: (d, args) => addon.cnn_predict(memory.buffer(), ...d, ...args),
    addInto: (a, x, n) => addon.add_into(memory.buffer(), a, x, n),
    divideBy: (a, dv, n) => addon.divide_by(memory.buffer(), a, dv, n),
  };
}

interface CnnWasmExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  cnn_adapt: (...args: number[]) => number;
  cnn_predict: (...args: number[]) => void;
  cnn_work_floats: (...args: number[]) => number;
  cnn_param_count: (...args: number[]) => number;
  cnn_add_into: (acc: number, x: number, n: number) => void;
  cnn_divide_by: (acc: number, d: number, n: number) => void;
}

function wasmBackend(exports: CnnWasmExports): CnnBackend {
  return {
    kernel: 'fused-cnn-wasm',
    memory: wasmMemory(exports),
    paramCount: (d) => exports.cnn_param_count(...d),
    workFloats: (d, batch) => exports.cnn_work_floats(...d, batch),
    adapt: (d, args) => exports.cnn_adapt(...d, ...args),
    predict: (d, args) => exports.cnn_predict(...d, ...args),
    addInto: (a, x, n) => exports.cnn_add_into(a, x, n),
    divideBy: (a, dv, n) => exports.cnn_divide_by(a, dv, n),
  };
}

/** Which builds of the kernel a caller allows. */
export interface CnnBuilds {
  native: boolean;
  wasm: boolean;
}

/** The native addon where it is built and allowed, else a wasm instance, else undefined (a page still compiling it). */
function cnnBackend(builds: CnnBuilds): CnnBackend | undefined {
  const addon = builds.native ? nativeKernels() : undefined;
  if (addon) return nativeBackend(addon);
  const exports = builds.wasm ? FUSED_CNN_MODULE.instance<CnnWasmExports>() : undefined;
  return exports ? wasmBackend(exports) : undefined;
}

export class FusedCnn extends FusedLoop {
  readonly name: 'fused-cnn-native' | 'fused-cnn-wasm';
  /** An Omniglot task takes about 9 ms (native) to 35 ms (wasm): worth a thread of its own. */
  readonly threadsHelp = true;
  protected readonly io: { what: string; inputs: number; outputs: number; classification: boolean };
  /** H, W, C, filters, classes, blocks, stride-2 mask, pool mask: the kernel's architecture arguments. */
  private readonly dims: number[];

  private constructor(
    private readonly backend: CnnBackend,
    spec: ConvBlocksSpec,
    private readonly loss: LossSpec,
    optimizer: FusedOptimizerConfig,
    paramNames: readonly string[] | undefined,
  ) {
    const { names, shapes } = convParams(spec);
    super(new Arena(backend.memory), { addInto: backend.addInto, divideBy: backend.divideBy }, paramNames ?? names, shapes, optimizer);
    this.name = backend.kernel;
    const [H, W, C] = spec.inputShape;
    const mask = (has: (b: ConvBlocksSpec['blocks'][number]) => boolean) => spec.blocks.reduce((m, b, l) => (has(b) ? m | (1 << l) : m), 0);
    this.dims = [H, W, C, spec.filters, spec.classes, spec.blocks.length, mask((b) => b.stride === 2), mask((b) => b.pool)];
    this.io = { what: 'fused CNN', inputs: H * W * C, outputs: spec.classes, classification: true };
    const kernelCount = backend.paramCount(this.dims);
    if (kernelCount !== this.paramCount) throw new Error(`fused CNN: the kernel counts ${kernelCount} parameters, the model ${this.paramCount}`);
  }

  /**
   * A fused loop for this setting in the first allowed build that is available (native, then
   * wasm), or undefined when it is not covered (or, in a page, not compiled yet). `paramNames`:
   * the model's names for the kernel's parameters, in its order (default conv.ts's names).
   */
  static create(model: KernelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number, builds: CnnBuilds = { native: true, wasm: true }, paramNames?: readonly string[]): FusedCnn | undefined {
    const arch = architecture(model);
    if (!arch || !fusedCnnSupports(arch, loss, optimizer, targetSize)) return undefined;
    const backend = cnnBackend(builds);
    return backend ? new FusedCnn(backend, arch, loss!, optimizer, paramNames) : undefined;
  }

  /**
   * The logits [count, classes] of `count` examples in one batch (batch norm on their own
   * statistics, as `model.apply` with `training: true`), with parameters `params`.
   */
  predict(params: HostParams, x: Float32Array, count: number): Float32Array {
    const [H, W, C, , classes] = this.dims;
    if (!Number.isInteger(count) || count < 1 || x.length !== count * H * W * C) throw new Error(`fused CNN: ${count} examples need ${count * H * W * C} inputs, got ${x.length}`);
    const arena = this.arena;
    arena.reset();
    const at = { params: arena.alloc(4 * this.paramCount), x: arena.alloc(4 * x.length), logits: arena.alloc(4 * count * classes), work: 0 };
    at.work = this.allocWork(count);
    this.packParams(params, arena.f32(at.params, this.paramCount));
    arena.f32(at.x, x.length).set(x);
    this.backend.predict(this.dims, [at.params, at.x, count, at.logits, at.work]);
    return arena.f32(at.logits, count * classes).slice();
  }

  protected allocWork(batch: number): number {
    return this.arena.alloc(4 * this.backend.workFloats(this.dims, batch));
  }

  protected runKernel(at: FusedLayout, job: AdaptJob, steps: number, batch: number): number {
    if (steps === 0) return 0;
    const c = this.optimizer.config;
    return this.backend.adapt(this.dims, [
      LOSSES[`${this.loss.name}/${this.loss.reduction}`], this.optimizerKind(), at.rates,
      (c.momentum as number | undefined) ?? 0, (c.beta1 as number | undefined) ?? 0, (c.beta2 as number | undefined) ?? 0, (c.epsilon as number | undefined) ?? 0,
      at.params, at.slots[0] ?? 0, at.slots[1] ?? 0, at.x, at.y, at.rows, steps, batch, at.work,
    ], job.count);
  }
}
