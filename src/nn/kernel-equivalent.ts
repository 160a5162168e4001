/**
 * Which converted tfjs-layers models compute exactly what a fused kernel computes: the library's
 * MLP (dense layers with bias, one hidden activation, relu or tanh, and a linear output) and the
 * Omniglot CNN (4 x [conv 3x3 stride 2 'same' with bias, batch norm epsilon 1e-3 with gamma and
 * beta, relu], flatten, dense with bias), whatever their layers are called. Such a model is
 * recorded with the kernel's spec and its own parameter names in the kernel's order, which the
 * inner-loop factory (algorithms/select-inner-loop.ts) reads; a near miss simply gets no kernel.
 */
import type { ConvSpec, MlpSpec, Model } from './model.js';
import { BATCH_NORM_EPSILON, CONV_BLOCKS } from './conv.js';

/** One converted layer, as the kernels' checks need it. */
export interface PlanStep {
  className: string;
  config: Record<string, unknown>;
  /** Indices of its inputs: 0 the model's input, i + 1 step i's output. */
  inputs: number[];
  /** Its parameters' names, in the layer's weight order. */
  params: string[];
}

export interface KernelEquivalent {
  spec: MlpSpec | ConvSpec;
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

function convEquivalent(inputShape: readonly number[], steps: readonly PlanStep[]): ConvSpec | undefined {
  if (inputShape.length !== 3 || steps.length !== 3 * CONV_BLOCKS + 2) return undefined;
  const filters = Number(steps[0].config.filters);
  for (let l = 0; l < CONV_BLOCKS; l++) {
    const [c, bn, act] = steps.slice(3 * l, 3 * l + 3);
    const convOk = c.className === 'Conv2D' && c.params.length === 2 && Number(c.config.filters) === filters && same(c.config.kernelSize, [3, 3])
      && same(c.config.strides, [2, 2]) && c.config.padding === 'same' && c.config.activation === 'linear';
    const bnOk = bn.className === 'BatchNormalization' && bn.params.length === 2 && bn.config.epsilon === BATCH_NORM_EPSILON;
    if (!convOk || !bnOk || act.className !== 'Activation' || act.config.activation !== 'relu') return undefined;
  }
  const [flatten, dense] = steps.slice(-2);
  if (flatten.className !== 'Flatten' || !isDense(dense, 'linear')) return undefined;
  return { kind: 'conv', variant: 'omniglot', inputShape: [...inputShape], classes: Number(dense.config.units), filters, init: 'tensorflow' };
}

/** Records the kernel equivalent of a converted model whose steps form a chain matching a kernel's architecture. */
export function recordKernelEquivalent(model: Model, inputShape: readonly number[], steps: readonly PlanStep[]): void {
  // The kernels compute a chain: each layer reads the one before it.
  if (!steps.every((s, i) => s.inputs.length === 1 && s.inputs[0] === i)) return;
  const spec = mlpEquivalent(inputShape, steps) ?? convEquivalent(inputShape, steps);
  if (spec) equivalents.set(model, { spec, paramNames: steps.flatMap((s) => s.params) });
}
