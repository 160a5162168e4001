/**
 * wasm BatchMatMul with transposed operands. tfjs-backend-wasm multiplies untransposed 2-D
 * operands through XNNPACK (~30 GFLOP/s here) but falls back to a slow loop (~2.5 GFLOP/s) as
 * soon as an operand is transposed, which is what every backward pass of a dense layer asks for
 * (dx = dy W^T, dW = x^T dy). Transposing the operand explicitly (a cheap copy) and then taking
 * the fast path is several times faster. Hand-written because this is a routing decision inside
 * tfjs's wasm backend that no library exposes.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, runWasmKernel } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;

function transposeLastTwo(backend: ReturnType<typeof asWasmBackend>, t: TensorInfo): TensorInfo {
  const rank = t.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return runWasmKernel(backend, 'Transpose', { x: t }, { perm });
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
      if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return original.kernelFunc(args);
      const backend = asWasmBackend(args.backend);
      const temporaries: TensorInfo[] = [];
      const aa = transposeA ? transposeLastTwo(backend, a) : a;
      if (transposeA) temporaries.push(aa);
      const bb = transposeB ? transposeLastTwo(backend, b) : b;
      if (transposeB) temporaries.push(bb);
      try {
        return original.kernelFunc({ ...args, inputs: { a: aa, b: bb }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      } finally {
        for (const t of temporaries) backend.disposeData(t.dataId);
      }
    },
  };
}
