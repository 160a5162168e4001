/**
 * The fused CNN inner loop (native/fused-cnn.c in the native addon, fused-native.ts): all k
 * optimizer steps of one task of the paper's Omniglot CNN in one call, on host arrays.
 *
 * It covers the 'omniglot' variant of src/nn/conv.ts (4 blocks of 3x3 stride-2 conv, batch norm
 * with batch statistics, ReLU; then dense) with any input shape, any class count and filters a
 * multiple of 16, softmax cross-entropy on integer labels (mean or sum), and SGD, momentum SGD or
 * TF1-form Adam. `FusedCnn.create` returns undefined for anything else, or where the addon is
 * not built, and callers keep the TensorFlow.js path.
 *
 * Results agree with the tfjs path to float32 rounding (the machine's fused multiply-adds and a
 * different order of additions), except the conv biases: batch norm cancels them, so their
 * gradient is rounding noise, which Adam's normalised step turns into +-lr moves that differ from
 * tfjs's but change no output. On one machine the results are bitwise repeatable.
 */
import type { ModelSpec } from '../nn/model.js';
import type { LossSpec } from '../nn/losses.js';
import { CONV_BLOCKS, convFeatureShape } from '../nn/conv.js';
import { FusedLoop, type FusedJob, type FusedLayout, type FusedOptimizerConfig } from './fused-loop.js';
import { Arena } from './fused-wasm.js';
import { nativeKernels, NativeMemory, type NativeExports } from './fused-native.js';

type ConvModelSpec = Extract<ModelSpec, { kind: 'conv' }>;

const LOSSES: Record<string, number> = { 'cross-entropy/mean': 0, 'cross-entropy/sum': 1 };
/** The kernel's inner loops step through filters a vector at a time (up to 16 floats). */
const FILTER_MULTIPLE = 16;
const STRIDE = 2;

/** Whether the fused CNN covers this model, loss and optimizer (whether or not the addon is built). */
export function fusedCnnSupports(model: ModelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): boolean {
  if (model.kind !== 'conv' || model.variant !== 'omniglot' || model.filters % FILTER_MULTIPLE !== 0) return false;
  if (!loss || !(`${loss.name}/${loss.reduction}` in LOSSES) || targetSize !== 1) return false;
  return optimizer.name === 'adam' || optimizer.name === 'sgd';
}

/** Parameter names and shapes in the kernel's order, as src/nn/conv.ts names them. */
function convParams(spec: ConvModelSpec): { names: string[]; shapes: number[][] } {
  const names: string[] = [];
  const shapes: number[][] = [];
  let inC = spec.inputShape[2];
  for (let l = 0; l < CONV_BLOCKS; l++) {
    names.push(`conv${l}/kernel`, `conv${l}/bias`, `bn${l}/gamma`, `bn${l}/beta`);
    shapes.push([3, 3, inC, spec.filters], [spec.filters], [spec.filters], [spec.filters]);
    inC = spec.filters;
  }
  const features = convFeatureShape(spec).reduce((a, b) => a * b, 1);
  names.push('dense/kernel', 'dense/bias');
  shapes.push([features, spec.classes], [spec.classes]);
  return { names, shapes };
}

export class FusedCnn extends FusedLoop {
  readonly kernel = 'fused-cnn';
  /** A task takes about 16 ms: worth a thread of its own. */
  readonly threadsHelp = true;
  protected readonly io: { what: string; inputs: number; outputs: number; classification: boolean };
  /** H, W, C, filters, classes, stride: the kernel's shape arguments. */
  private readonly dims: number[];

  private constructor(
    private readonly addon: NativeExports,
    private readonly memory: NativeMemory,
    spec: ConvModelSpec,
    private readonly loss: LossSpec,
    optimizer: FusedOptimizerConfig,
  ) {
    const { names, shapes } = convParams(spec);
    super(
      new Arena(memory),
      { addInto: (a, x, n) => addon.add_into(memory.buffer(), a, x, n), divideBy: (a, d, n) => addon.divide_by(memory.buffer(), a, d, n) },
      names, shapes, optimizer,
    );
    const [H, W, C] = spec.inputShape;
    this.dims = [H, W, C, spec.filters, spec.classes, STRIDE];
    this.io = { what: 'fused CNN', inputs: H * W * C, outputs: spec.classes, classification: true };
    const kernelCount = addon.cnn_param_count(H, W, C, spec.filters, spec.classes, STRIDE);
    if (kernelCount !== this.paramCount) throw new Error(`fused CNN: the kernel counts ${kernelCount} parameters, the model ${this.paramCount}`);
  }

  /** A fused loop for this setting, or undefined when it is not covered or the addon is not built. */
  static create(model: ModelSpec, loss: LossSpec | undefined, optimizer: FusedOptimizerConfig, targetSize: number): FusedCnn | undefined {
    if (model.kind !== 'conv' || !fusedCnnSupports(model, loss, optimizer, targetSize)) return undefined;
    const addon = nativeKernels();
    return addon ? new FusedCnn(addon, new NativeMemory(), model, loss!, optimizer) : undefined;
  }

  protected allocWork(batch: number): number {
    const [H, W, C, F, classes, S] = this.dims;
    return this.arena.alloc(4 * this.addon.cnn_work_floats(H, W, C, F, classes, S, batch));
  }

  protected runKernel(at: FusedLayout, job: FusedJob, steps: number, batch: number): number {
    if (steps === 0) return 0;
    const c = this.optimizer.config;
    return this.addon.cnn_adapt(
      this.memory.buffer(), ...this.dims, LOSSES[`${this.loss.name}/${this.loss.reduction}`], this.optimizerKind(), at.rates,
      (c.momentum as number | undefined) ?? 0, (c.beta1 as number | undefined) ?? 0, (c.beta2 as number | undefined) ?? 0, (c.epsilon as number | undefined) ?? 0,
      at.params, at.slots[0] ?? 0, at.slots[1] ?? 0, at.x, at.y, at.rows, steps, batch, at.work, job.count,
    );
  }
}
