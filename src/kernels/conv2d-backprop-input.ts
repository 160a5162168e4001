/**
 * Conv2DBackpropInput (the gradient of conv2d with respect to its input) for the tfjs-wasm
 * backend, REPLACING the backend's own. tfjs-backend-wasm 4.22 has this kernel, but as a plain
 * C++ loop nest that ran at ~0.7-2.5 GFLOP/s: in a training step of the Omniglot CNN (batch 10)
 * it took about 70 of ~155 ms on a loaded machine. Hand-written because no library provides a
 * faster one for tfjs-wasm.
 *
 *   dx[b, ih, iw, ci] = sum over (oh, ow, kh, kw) with ih = oh*sh - padTop + kh, iw = ow*sw - padLeft + kw,
 *                       co of dy[b, oh, ow, co] * W[kh, kw, ci, co]
 *
 * - Stride 1: a convolution of dy with the flipped filter W'[kh, kw, co, ci] = W[kH-1-kh, kW-1-kw, ci, co]
 *   and padding (kH-1-top, kH-1-bottom, kW-1-left, kW-1-right), run by the backend's Conv2D (XNNPACK).
 * - Other strides: a matrix product and a scatter ("col2im"):
 *     dCols [b*oh*ow, kh*kw*ci] = dy [b*oh*ow, co] x W^T [co, kh*kw*ci]
 *   where JavaScript writes W^T into the heap (small: the filter) so that the backend's BatchMatMul
 *   runs without transposes (its fast XNNPACK path), then adds each row of dCols into the input
 *   positions that its output position's patch covers (contiguous runs of ci).
 * NHWC only, dilations 1.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, requireNhwcUndilated, runWasmKernel, type WasmBackendInternals } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;

export function conv2DBackpropInputWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape, dilations } = (args.attrs ?? {}) as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
    dilations?: [number, number] | number;
  };
  const backend = asWasmBackend(args.backend);
  requireNhwcUndilated('Conv2DBackpropInput', dataFormat, dilations);
  if (dy.shape.length !== 4 || filter.shape.length !== 4 || inputShape.length !== 4) {
    throw new Error(`Conv2DBackpropInput (reptile wasm kernel): dy, filter and inputShape must be rank 4, got [${dy.shape}], [${filter.shape}], [${inputShape}]`);
  }
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropInput (reptile wasm kernel): dy and filter must be float32, got ${dy.dtype} and ${filter.dtype}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: batch, inHeight: inH, inWidth: inW, inChannels: inC, outHeight: outH, outWidth: outW, outChannels: outC } = info;
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (dy.shape[0] !== batch || dy.shape[1] !== outH || dy.shape[2] !== outW || dy.shape[3] !== outC) {
    throw new Error(`Conv2DBackpropInput (reptile wasm kernel): dy has shape [${dy.shape}], expected [${info.outShape}]`);
  }
  const k = kH * kW * inC;
  const n = batch * outH * outW;

  const p = info.padInfo;
  if (sH === 1 && sW === 1 && n > 0 && k > 0 && outC > 0 && Math.max(p.top, p.bottom) < kH && Math.max(p.left, p.right) < kW) {
    return backpropInputConv(backend, dy, filter, [kH, kW, inC, outC], [
      [0, 0],
      [kH - 1 - p.top, kH - 1 - p.bottom],
      [kW - 1 - p.left, kW - 1 - p.right],
      [0, 0],
    ]);
  }

  const dx = backend.makeOutput([...inputShape], 'float32');
  if (n === 0 || k === 0 || outC === 0) {
    heapF32(backend, dx).fill(0);
    return dx;
  }
  const wT = backend.makeOutput([1, outC, k], 'float32');
  let dCols: TensorInfo | undefined;
  try {
    {
      const w = heapF32(backend, filter);
      const t = heapF32(backend, wT);
      for (let r = 0; r < k; r++) for (let co = 0, i = r * outC; co < outC; co++, i++) t[co * k + r] = w[i];
    }
    const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, n, outC], dtype: 'float32' };
    dCols = runWasmKernel(backend, 'BatchMatMul', { a: dy3, b: wT }, { transposeA: false, transposeB: false });
    // Views after the last allocation: allocations may grow (and detach) the heap.
    const out = heapF32(backend, dx);
    const cols = heapF32(backend, dCols);
    out.fill(0);
    const rowStride = inW * inC;
    const imageStride = inH * rowStride;
    let c = 0;
    for (let b = 0; b < batch; b++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++, c += k) {
          for (let kh = 0; kh < kH; kh++) {
            const ih = oh * sH - padTop + kh;
            if (ih < 0 || ih >= inH) continue;
            for (let kw = 0; kw < kW; kw++) {
              const iw = ow * sW - padLeft + kw;
              if (iw < 0 || iw >= inW) continue;
              const o = b * imageStride + ih * rowStride + iw * inC;
              const s = c + (kh * kW + kw) * inC;
              for (let ci = 0; ci < inC; ci++) out[o + ci] += cols[s + ci];
            }
          }
        }
      }
    }
    return dx;
  } catch (error) {
    backend.disposeData(dx.dataId);
    throw error;
  } finally {
    backend.disposeData(wT.dataId);
    if (dCols) backend.disposeData(dCols.dataId);
  }
}

/** Stride 1: dx = conv2d(dy, flipped filter with in/out channels swapped, complementary padding). */
function backpropInputConv(
  backend: WasmBackendInternals,
  dy: TensorInfo,
  filter: TensorInfo,
  [kH, kW, inC, outC]: number[],
  pad: number[][],
): TensorInfo {
  const flipped = backend.makeOutput([kH, kW, outC, inC], 'float32');
  try {
    const w = heapF32(backend, filter);
    const f = heapF32(backend, flipped);
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        const src = ((kH - 1 - kh) * kW + (kW - 1 - kw)) * inC * outC;
        const dst = (kh * kW + kw) * outC * inC;
        for (let ci = 0; ci < inC; ci++) for (let co = 0; co < outC; co++) f[dst + co * inC + ci] = w[src + ci * outC + co];
      }
    }
    return runWasmKernel(backend, 'Conv2D', { x: dy, filter: flipped }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
  } finally {
    backend.disposeData(flipped.dataId);
  }
}

export const conv2DBackpropInputWasmConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInputWasm as unknown as tf.KernelFunc,
};
