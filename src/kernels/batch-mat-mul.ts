/**
 * wasm BatchMatMul with transposed operands. tfjs-backend-wasm multiplies untransposed 2-D
 * operands through XNNPACK (~30 GFLOP/s here) but falls back to a slow loop (~2.5 GFLOP/s) as
 * soon as an operand is transposed, which is what every backward pass of a dense layer asks for
 * (dx = dy W^T, dW = x^T dy). Transposing the operand explicitly (a cheap copy) and then taking
 * the fast path is several times faster. Batched products (a batch of more than one matrix, as
 * the stacked inner loop's MLP layers) also miss the fast path (~5x slower than the same products
 * one by one), so they are run one matrix at a time. Hand-written because this is a routing
 * decision inside tfjs's wasm backend that no library exposes.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, runWasmKernel, type WasmBackendInternals } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;

function transposeLastTwo(backend: ReturnType<typeof asWasmBackend>, t: TensorInfo): TensorInfo {
  const rank = t.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return runWasmKernel(backend, 'Transpose', { x: t }, { perm });
}

const product = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);

/** Float offset of a tensor's data in the heap. */
function offsetOf(backend: WasmBackendInternals, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset / 4;
}

/**
 * a [..., m, k] x b [..., k, n] with the same batch dimensions, untransposed: each matrix is
 * copied out (a heap memmove), multiplied on the fast path, and copied into the result.
 */
function matrixByMatrix(backend: WasmBackendInternals, original: tf.KernelConfig, args: Parameters<tf.KernelFunc>[0], a: TensorInfo, b: TensorInfo): TensorInfo {
  const rank = a.shape.length;
  const [m, k, n] = [a.shape[rank - 2], a.shape[rank - 1], b.shape[rank - 1]];
  const batches = product(a.shape.slice(0, -2));
  const out = backend.makeOutput([...a.shape.slice(0, -2), m, n], 'float32');
  for (let i = 0; i < batches; i++) {
    const sa = backend.makeOutput([m, k], 'float32');
    const sb = backend.makeOutput([k, n], 'float32');
    let heap = backend.wasm.HEAPF32; // taken after the allocations (they may grow the heap)
    heap.copyWithin(offsetOf(backend, sa), offsetOf(backend, a) + i * m * k, offsetOf(backend, a) + (i + 1) * m * k);
    heap.copyWithin(offsetOf(backend, sb), offsetOf(backend, b) + i * k * n, offsetOf(backend, b) + (i + 1) * k * n);
    const r = original.kernelFunc({ ...args, inputs: { a: sa, b: sb }, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as TensorInfo;
    heap = backend.wasm.HEAPF32;
    heap.copyWithin(offsetOf(backend, out) + i * m * n, offsetOf(backend, r), offsetOf(backend, r) + m * n);
    for (const t of [sa, sb, r]) backend.disposeData(t.dataId);
  }
  return out;
}

/** The kernel config, wrapping the backend's own BatchMatMul (`original`). */
export function batchMatMulWasmConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return original.kernelFunc(args);
      const sameBatches = a.shape.length === b.shape.length && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
      const batched = sameBatches && product(a.shape.slice(0, -2)) > 1;
      if (!transposeA && !transposeB && !batched) return original.kernelFunc(args);
      const backend = asWasmBackend(args.backend);
      const temporaries: TensorInfo[] = [];
      const aa = transposeA ? transposeLastTwo(backend, a) : a;
      if (transposeA) temporaries.push(aa);
      const bb = transposeB ? transposeLastTwo(backend, b) : b;
      if (transposeB) temporaries.push(bb);
      try {
        if (batched) return matrixByMatrix(backend, original, args, aa, bb);
        return original.kernelFunc({ ...args, inputs: { a: aa, b: bb }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      } finally {
        for (const t of temporaries) backend.disposeData(t.dataId);
      }
    },
  };
}
