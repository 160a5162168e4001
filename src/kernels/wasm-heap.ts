/**
 * The few internals of the tfjs-wasm backend that hand-written kernels use. Tensor data lives in
 * the wasm module's heap at `dataIdMap.get(dataId).memoryOffset` (bytes); `makeOutput` allocates
 * an output there. Any allocation may grow the heap and detach earlier views of it, so views are
 * taken (with `heapF32`) only after the last allocation of a kernel.
 *
 * Runs wherever the wasm backend runs (Node, browser).
 */
import type * as tf from '@tensorflow/tfjs';
import { getKernel } from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;

export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The parts of tfjs-backend-wasm's `BackendWasm` (4.x) that the kernels here rely on. */
export interface WasmBackendInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

export function asWasmBackend(backend: unknown): WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals> | null;
  if (!b || !b.wasm || !(b.wasm.HEAPF32 instanceof Float32Array) || !b.dataIdMap || typeof b.makeOutput !== 'function') {
    throw new Error('reptile wasm kernels: the backend does not look like tfjs-backend-wasm 4.x (no wasm.HEAPF32 / dataIdMap / makeOutput)');
  }
  return b as WasmBackendInternals;
}

/** A Float32Array view of a float32 tensor's data in the current heap. Re-take it after any allocation. */
export function heapF32(backend: WasmBackendInternals, t: TensorInfo): Float32Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('reptile wasm kernels: tensor data not found in the wasm backend');
  if (t.dtype !== 'float32') throw new Error(`reptile wasm kernels: expected a float32 tensor, got ${t.dtype}`);
  const size = t.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(backend.wasm.HEAPF32.buffer, data.memoryOffset, size);
}

/**
 * Runs one of the wasm backend's own kernels from inside a kernel (its output is ours to
 * dispose with `backend.disposeData` or to return).
 */
export function runWasmKernel(backend: WasmBackendInternals, kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): TensorInfo {
  const kernel = getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`reptile wasm kernels: the wasm backend has no '${kernelName}' kernel`);
  return kernel.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
}

/** The layouts the hand-written conv kernels support: NHWC, dilation 1 (a clear error otherwise). */
export function requireNhwcUndilated(kernelName: string, dataFormat: string | undefined, dilations: [number, number] | number | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} (reptile wasm kernel): only dataFormat 'NHWC' is supported, got '${dataFormat}'`);
  }
  if (dilations !== undefined && !(Array.isArray(dilations) ? dilations.every((d) => d === 1) : dilations === 1)) {
    throw new Error(`${kernelName} (reptile wasm kernel): only dilations 1 are supported, got ${JSON.stringify(dilations)}`);
  }
}
