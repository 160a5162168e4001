/**
 * Which converted tfjs-layers models compute exactly what a fused kernel computes: the library's
 * MLP (dense layers with bias, one hidden activation, relu or tanh, and a linear output) and the
 * CNN block family (one or more [conv 3x3 stride 1 or 2 'same' with bias, the same filters in every
 * block, batch norm epsilon 1e-3 with gamma and beta, relu, and optionally a 2x2 stride-2 max-pool
 * before or after the relu], flatten, dense with bias), whatever their layers are called. Such a model is
 * recorded with the kernel's spec and its own parameter names in the kernel's order, which the
 * inner-loop factory (algorithms/select-inner-loop.ts) reads; a near miss simply gets no kernel.
 */
import type { MlpSpec, Model, ModelSpec } from './model.js';
import { BATCH_NORM_EPSILON, type ConvBlocksSpec } from './conv.js';

/** One converted layer, as the kernels' checks need it. */
export interface PlanStep {
  className: string;
  config: Record<string, unknown>;
  /** Indices of its inputs: 0 the model's input, i + 1 step i's output. */
  inputs: number[];
  /** Its parameters' names, in the layer's weight order. */
  params: string[];
}

/** What the kernels' `supports` checks read: a model's spec, or a converted CNN's block architecture. */
export type KernelSpec = ModelSpec | ConvBlocksSpec;

export interface KernelEquivalent {
  spec: MlpSpec | ConvBlocksSpec;
  /** The model's parameter names in the kernel's order. */
  paramNames: string[];
}

const equivalents = new WeakMap<Model, KernelEquivalent>();

/** The fused kernel's view of a converted model, if it has one. */
export function kernelEquivalent(model: Model): KernelEquivalent | undefined {
  return equivalents.get(model);
}

const same = (a: unknown, b: readonly number[]) => Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
const isDense = (s: PlanStep, activation?: string) => s.className === 'Dense' && s.params.length === 2 && (activation === undefined || s.config.activation === activation);

function mlpEquivalent(inputShape: readonly number[], steps: readonly PlanStep[]): MlpSpec | undefined {
  if (inputShape.length !== 1 || steps.length === 0 || !steps.every((s) => isDense(s))) return undefined;
  const hidden = steps.slice(0, -1).map((s) => s.config.activation);
  const activation = hidden[0] ?? 'relu';
  if ((activation !== 'relu' && activation !== 'tanh') || hidden.some((a) => a !== activation) || steps[steps.length - 1].config.activation !== 'linear') return undefined;
  return { kind: 'mlp', sizes: [inputShape[0], ...steps.map((s) => Number(s.config.units))], activation, init: 'tensorflow' };
}

const pair = (v: unknown, n: number) => same(v, [n, n]);
const channelsLast = (s: PlanStep) => s.config.dataFormat === undefined || s.config.dataFormat === 'channelsLast';
const isRelu = (s: PlanStep | undefined) => s?.className === 'Activation' && s.config.activation === 'relu';

/**
 * A 2x2 stride-2 max-pool as the kernel computes it ('same' padding: the windows start at even
 * rows and columns, the last one short for an odd size); 'valid' is the same where the size is even.
 */
function isKernelPool(s: PlanStep | undefined, h: number, w: number): boolean {
  if (s?.className !== 'MaxPooling2D' || !pair(s.config.poolSize, 2) || !pair(s.config.strides, 2) || !channelsLast(s)) return false;
  return s.config.padding === 'same' || (s.config.padding === 'valid' && h % 2 === 0 && w % 2 === 0);
}

function convEquivalent(inputShape: readonly number[], steps: readonly PlanStep[]): ConvBlocksSpec | undefined {
  if (inputShape.length !== 3 || steps.length < 5) return undefined;
  const filters = Number(steps[0].config.filters);
  const blocks: ConvBlocksSpec['blocks'] = [];
  let [h, w] = inputShape;
  let i = 0;
  while (i < steps.length - 2) {
    const [c, bn] = [steps[i], steps[i + 1]];
    const stride = pair(c.config.strides, 1) ? 1 : pair(c.config.strides, 2) ? 2 : 0;
    const convOk = c.className === 'Conv2D' && c.params.length === 2 && Number(c.config.filters) === filters && pair(c.config.kernelSize, 3)
      && stride !== 0 && c.config.padding === 'same' && c.config.activation === 'linear' && channelsLast(c)
      && (c.config.dilationRate === undefined || pair(c.config.dilationRate, 1));
    const bnOk = bn?.className === 'BatchNormalization' && bn.params.length === 2 && bn.config.epsilon === BATCH_NORM_EPSILON
      && (bn.config.axis === undefined || bn.config.axis === -1 || bn.config.axis === 3);
    if (!convOk || !bnOk) return undefined;
    [h, w] = [Math.ceil(h / stride), Math.ceil(w / stride)];
    // ReLU and max-pool commute, gradients included: both orders route a window's gradient to its
    // first maximum where that is positive, and give nothing where it is not.
    const rest = steps.slice(i + 2, i + 4);
    const pool = isRelu(rest[0]) ? isKernelPool(rest[1], h, w) : isKernelPool(rest[0], h, w) && isRelu(rest[1]);
    if (!pool && !isRelu(rest[0])) return undefined;
    if (pool) [h, w] = [Math.ceil(h / 2), Math.ceil(w / 2)];
    blocks.push({ stride, pool });
    i += pool ? 4 : 3;
  }
  const [flatten, dense] = steps.slice(i);
  if (i !== steps.length - 2 || flatten.className !== 'Flatten' || !isDense(dense, 'linear')) return undefined;
  return { kind: 'conv-blocks', inputShape: [...inputShape], classes: Number(dense.config.units), filters, blocks };
}

/** Records the kernel equivalent of a converted model whose steps form a chain matching a kernel's architecture. */
export function recordKernelEquivalent(model: Model, inputShape: readonly number[], steps: readonly PlanStep[]): void {
  // The kernels compute a chain: each layer reads the one before it.
  if (!steps.every((s, i) => s.inputs.length === 1 && s.inputs[0] === i)) return;
  const spec = mlpEquivalent(inputShape, steps) ?? convEquivalent(inputShape, steps);
  if (spec) equivalents.set(model, { spec, paramNames: steps.flatMap((s) => s.params) });
}
