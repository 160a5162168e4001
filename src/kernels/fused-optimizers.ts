/**
 * Fused optimizer updates: one kernel updates every parameter of a model in one pass over memory,
 * where the composed update (src/nn/optimizers.ts) runs about a dozen tfjs kernels per parameter
 * tensor, each a full pass plus a dispatch. For the article's Omniglot MLP, Adam's composed update
 * cost more than the forward and backward passes together.
 *
 * Kernels (registered for the wasm and cpu backends; other backends use the composed update):
 * - ReptileAdamUpdate: inputs p0..p{n-1}, g*, m*, v*; outputs p'*, m'*, v'* (TF1's Adam, as
 *   optimizers.ts: m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2; p' = p - stepSize m' / (sqrt(v') + eps)).
 * - ReptileSgdUpdate: inputs p*, g* (and velocity* when momentum > 0); outputs p'* (and velocity'*).
 *
 * They have no gradient: callers use them only when no gradient tape is recording
 * (`fusedUpdateAvailable`), so second-order methods still differentiate the composed update.
 * Arithmetic is float64 per element, rounded once when stored, so results agree with the
 * composed float32 ops to about 1e-7 relative, not bitwise.
 * Hand-written because tfjs has no fused multi-tensor optimizer kernel (its own optimizers run the
 * same composed ops per variable).
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32 } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;
type FloatArray = Float32Array;

export const ADAM_UPDATE = 'ReptileAdamUpdate';
export const SGD_UPDATE = 'ReptileSgdUpdate';
const FUSED_BACKENDS = ['wasm', 'cpu'] as const;

export interface AdamUpdateAttrs {
  count: number;
  stepSize: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface SgdUpdateAttrs {
  count: number;
  learningRate: number;
  momentum: number;
}

/** Element-wise Adam update of one parameter tensor (outputs first, then inputs). */
function adamElements(pOut: FloatArray, mOut: FloatArray, vOut: FloatArray, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, a: AdamUpdateAttrs): void {
  const { stepSize, beta1, beta2, epsilon } = a;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let j = 0; j < p.length; j++) {
    const gj = g[j];
    const mj = beta1 * m[j] + c1 * gj;
    const vj = beta2 * v[j] + c2 * gj * gj;
    mOut[j] = mj;
    vOut[j] = vj;
    pOut[j] = p[j] - (stepSize * mj) / (Math.sqrt(vj) + epsilon);
  }
}

function sgdElements(pOut: FloatArray, velOut: FloatArray | undefined, p: FloatArray, g: FloatArray, vel: FloatArray | undefined, a: SgdUpdateAttrs): void {
  const { learningRate, momentum } = a;
  if (!velOut || !vel) {
    for (let j = 0; j < p.length; j++) pOut[j] = p[j] - learningRate * g[j];
    return;
  }
  for (let j = 0; j < p.length; j++) {
    const vj = momentum * vel[j] + g[j];
    velOut[j] = vj;
    pOut[j] = p[j] - learningRate * vj;
  }
}

/** How each backend exposes float32 data: allocate all outputs first, then take views. */
interface Memory {
  alloc(shape: number[]): TensorInfo;
  /** Views valid until the next `alloc`. */
  view(t: TensorInfo): FloatArray;
}

function memoryOf(backendName: string, backend: unknown): Memory {
  if (backendName === 'wasm') {
    const wasm = asWasmBackend(backend);
    return { alloc: (shape) => wasm.makeOutput(shape, 'float32'), view: (t) => heapF32(wasm, t) };
  }
  const cpu = backend as { makeTensorInfo(shape: number[], dtype: tf.DataType, values?: FloatArray): TensorInfo; data: { get(id: object): { values: FloatArray } } };
  return {
    alloc: (shape) => cpu.makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((x, y) => x * y, 1))),
    view: (t) => cpu.data.get(t.dataId).values,
  };
}

function groups(inputs: tf.NamedTensorInfoMap, prefixes: readonly string[], count: number, kernel: string): TensorInfo[][] {
  return prefixes.map((prefix) =>
    Array.from({ length: count }, (_, i) => {
      const t = inputs[`${prefix}${i}`];
      if (!t) throw new Error(`${kernel}: missing input '${prefix}${i}'`);
      if (t.dtype !== 'float32') throw new Error(`${kernel}: '${prefix}${i}' must be float32, got ${t.dtype}`);
      return t;
    }),
  );
}

function adamKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: ADAM_UPDATE,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as AdamUpdateAttrs;
      const [p, g, m, v] = groups(inputs, ['p', 'g', 'm', 'v'], a.count, ADAM_UPDATE);
      const mem = memoryOf(backendName, backend);
      const outs = [p, m, v].map((group) => group.map((t) => mem.alloc([...t.shape])));
      for (let i = 0; i < a.count; i++) {
        adamElements(mem.view(outs[0][i]), mem.view(outs[1][i]), mem.view(outs[2][i]), mem.view(p[i]), mem.view(g[i]), mem.view(m[i]), mem.view(v[i]), a);
      }
      return outs.flat();
    },
  };
}

function sgdKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: SGD_UPDATE,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as SgdUpdateAttrs;
      const withVelocity = a.momentum > 0;
      const [p, g, vel] = groups(inputs, withVelocity ? ['p', 'g', 'velocity'] : ['p', 'g'], a.count, SGD_UPDATE);
      const mem = memoryOf(backendName, backend);
      const outs = (withVelocity ? [p, vel] : [p]).map((group) => group.map((t) => mem.alloc([...t.shape])));
      for (let i = 0; i < a.count; i++) {
        sgdElements(mem.view(outs[0][i]), withVelocity ? mem.view(outs[1][i]) : undefined, mem.view(p[i]), mem.view(g[i]), withVelocity ? mem.view(vel[i]) : undefined, a);
      }
      return outs.flat();
    },
  };
}

export const fusedOptimizerKernels: tf.KernelConfig[] = FUSED_BACKENDS.flatMap((b) => [adamKernel(b), sgdKernel(b)]);

/**
 * Whether the fused kernels may run now: the active backend has them and no gradient tape is
 * recording (they have no gradient, so anything differentiated must use the composed update).
 */
export function fusedUpdateAvailable(): boolean {
  const engine = tf.engine() as unknown as { isTapeOn(): boolean };
  return !engine.isTapeOn() && tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
}

function named(groupsByPrefix: Record<string, readonly tf.Tensor[]>): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const [prefix, list] of Object.entries(groupsByPrefix)) list.forEach((t, i) => (out[`${prefix}${i}`] = t));
  return out;
}

/** Runs ReptileAdamUpdate over aligned lists; returns new tensors { p, m, v }. */
export function fusedAdamUpdate(p: readonly tf.Tensor[], g: readonly tf.Tensor[], m: readonly tf.Tensor[], v: readonly tf.Tensor[], attrs: Omit<AdamUpdateAttrs, 'count'>): { p: tf.Tensor[]; m: tf.Tensor[]; v: tf.Tensor[] } {
  const n = p.length;
  const outs = tf.engine().runKernel(ADAM_UPDATE, named({ p, g, m, v }), { ...attrs, count: n } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { p: outs.slice(0, n), m: outs.slice(n, 2 * n), v: outs.slice(2 * n) };
}

/** Runs ReptileSgdUpdate; returns new tensors { p, velocity } (velocity empty without momentum). */
export function fusedSgdUpdate(p: readonly tf.Tensor[], g: readonly tf.Tensor[], velocity: readonly tf.Tensor[], attrs: Omit<SgdUpdateAttrs, 'count'>): { p: tf.Tensor[]; velocity: tf.Tensor[] } {
  const n = p.length;
  const inputs = attrs.momentum > 0 ? named({ p, g, velocity }) : named({ p, g });
  const outs = tf.engine().runKernel(SGD_UPDATE, inputs, { ...attrs, count: n } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { p: outs.slice(0, n), velocity: outs.slice(n) };
}
