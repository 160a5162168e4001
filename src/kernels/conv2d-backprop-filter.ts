/**
 * Conv2DBackpropFilter (the gradient of conv2d with respect to its filter) for the tfjs-wasm
 * backend, which does not provide it (tfjs-backend-wasm 4.22: "Kernel 'Conv2DBackpropFilter' not
 * registered for backend 'wasm'"), so no conv model can be trained there. Hand-written because no
 * library provides this kernel for tfjs-wasm, and tfjs-ops compositions were slow (FINDINGS:
 * im2col from StridedSlice ops).
 *
 *   dW[kh, kw, ci, co] = sum over b, oh, ow of x[b, oh*sh - padTop + kh, ow*sw - padLeft + kw, ci] * dy[b, oh, ow, co]
 *
 * Implementations, all over the wasm heap and with the same result (measured in bench/conv-step.ts):
 * - 'conv' (used for stride 1 and 8+ input channels): the sum is itself a stride-1 convolution
 *   once batch and channels swap roles: with xT = x as [ci, h, w, b] and dyT = dy as
 *   [oh, ow, b, co] (the backend's Transpose), conv2d(xT, dyT) with x's padding is
 *   [ci, kh, kw, co], transposed to dW. The backend's Conv2D (XNNPACK) does the multiply-adds:
 *   ~1.6x faster than 'im2col' on the Mini-ImageNet CNN's 42x42x32 layer, whose patch matrix is large.
 * - 'im2col' (used otherwise, e.g. the Omniglot CNN's stride 2): JavaScript writes the TRANSPOSED
 *   patch matrix colsT [kh*kw*ci, b*oh*ow] into the heap, then the backend's BatchMatMul computes
 *   colsT x dy [b*oh*ow, co], which is exactly dW's [kh, kw, ci, co] layout. Neither operand is
 *   transposed, so the matmul takes the backend's fast (XNNPACK) path (a transposed one is ~10x slower).
 * - 'direct': one JavaScript loop nest accumulating rank-1 updates into dW (no extra memory);
 *   kept as a reference (~10x slower than 'im2col' on the Omniglot CNN's 14x14x64 layer).
 * NHWC only, dilations 1 (as tfjs's conv2d gradient requires anyway).
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, requireNhwcUndilated, runWasmKernel, type WasmBackendInternals } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;

/** 'auto': 'conv' for stride 1 and at least 8 input channels, 'im2col' otherwise. 'conv' falls back to 'im2col' for strides above 1. */
export type BackpropFilterMethod = 'auto' | 'conv' | 'im2col' | 'direct';
let method: BackpropFilterMethod = 'auto';

/** Chooses the implementation (for benchmarks and tests); returns the previous one. */
export function setConv2DBackpropFilterMethod(m: BackpropFilterMethod): BackpropFilterMethod {
  const previous = method;
  method = m;
  return previous;
}

interface Geometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  padTop: number;
  padLeft: number;
}

function geometry(x: TensorInfo, dy: TensorInfo, attrs: Record<string, unknown>): Geometry {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape, dilations } = attrs as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    dilations?: [number, number] | number;
  };
  requireNhwcUndilated('Conv2DBackpropFilter', dataFormat, dilations);
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`Conv2DBackpropFilter (reptile wasm kernel): x and dy must be rank 4, got [${x.shape}] and [${dy.shape}]`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter (reptile wasm kernel): x and dy must be float32, got ${x.dtype} and ${dy.dtype}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  if (info.outHeight !== dy.shape[1] || info.outWidth !== dy.shape[2] || info.outChannels !== dy.shape[3] || info.batchSize !== dy.shape[0]) {
    throw new Error(`Conv2DBackpropFilter (reptile wasm kernel): dy has shape [${dy.shape}], expected [${info.outShape}]`);
  }
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    sH: info.strideHeight,
    sW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * Writes colsT [kH*kW*inC, batch*outH*outW]: row (kh, kw, ci), column (b, oh, ow) holds the input
 * value that filter tap (kh, kw, ci) sees at output position (b, oh, ow), or 0 in the padding.
 * Loops run along rows (sequential writes); the reads walk x with a stride of sW*inC.
 */
function im2colTransposed(x: Float32Array, cols: Float32Array, g: Geometry): void {
  const { batch, inH, inW, inC, outH, outW, kH, kW, sH, sW, padTop, padLeft } = g;
  const n = batch * outH * outW;
  const rowStrideX = inW * inC;
  const imageStrideX = inH * rowStrideX;
  const colStep = sW * inC;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      // Output columns ow whose input column iw = ow*sW - padLeft + kw lies inside the image.
      const owMin = Math.max(0, Math.ceil((padLeft - kw) / sW));
      const owEnd = Math.min(outW, Math.floor((inW - 1 + padLeft - kw) / sW) + 1);
      for (let ci = 0; ci < inC; ci++) {
        const rowBase = ((kh * kW + kw) * inC + ci) * n;
        let o = rowBase;
        for (let b = 0; b < batch; b++) {
          const xImage = b * imageStrideX + ci;
          for (let oh = 0; oh < outH; oh++) {
            const ih = oh * sH - padTop + kh;
            if (ih < 0 || ih >= inH || owEnd <= owMin) {
              cols.fill(0, o, o + outW);
              o += outW;
              continue;
            }
            let ow = 0;
            for (; ow < owMin; ow++) cols[o++] = 0;
            let xi = xImage + ih * rowStrideX + (owMin * sW - padLeft + kw) * inC;
            for (; ow < owEnd; ow++) {
              cols[o++] = x[xi];
              xi += colStep;
            }
            for (; ow < outW; ow++) cols[o++] = 0;
          }
        }
      }
    }
  }
}

function backpropFilterIm2col(backend: WasmBackendInternals, x: TensorInfo, dy: TensorInfo, g: Geometry, filterShape: number[]): TensorInfo {
  const k = g.kH * g.kW * g.inC;
  const n = g.batch * g.outH * g.outW;
  const cols = backend.makeOutput([1, k, n], 'float32');
  try {
    // Views after the allocation: it may have grown (and detached) the heap.
    im2colTransposed(heapF32(backend, x), heapF32(backend, cols), g);
    const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, n, g.outC], dtype: 'float32' };
    const out = runWasmKernel(backend, 'BatchMatMul', { a: cols, b: dy3 }, { transposeA: false, transposeB: false });
    return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
  } finally {
    backend.disposeData(cols.dataId);
  }
}

/** Stride 1 only: dW as a convolution of x (as [ci, h, w, b]) with dy (as [oh, ow, b, co]). */
function backpropFilterConv(backend: WasmBackendInternals, x: TensorInfo, dy: TensorInfo, g: Geometry): TensorInfo {
  // Output rows kh = 0..kH-1 need input rows kh - padTop .. kh - padTop + outH - 1.
  const padBottom = g.kH + g.outH - 1 - g.inH - g.padTop;
  const padRight = g.kW + g.outW - 1 - g.inW - g.padLeft;
  const temporaries: TensorInfo[] = [];
  try {
    const xT = runWasmKernel(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
    temporaries.push(xT);
    const dyT = runWasmKernel(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
    temporaries.push(dyT);
    const pad = [[0, 0], [g.padTop, padBottom], [g.padLeft, padRight], [0, 0]];
    const r = runWasmKernel(backend, 'Conv2D', { x: xT, filter: dyT }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
    temporaries.push(r);
    return runWasmKernel(backend, 'Transpose', { x: r }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

function backpropFilterDirect(backend: WasmBackendInternals, x: TensorInfo, dy: TensorInfo, g: Geometry, filterShape: number[]): TensorInfo {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, padTop, padLeft } = g;
  const out = backend.makeOutput(filterShape, 'float32');
  const dw = heapF32(backend, out);
  const xs = heapF32(backend, x);
  const dys = heapF32(backend, dy);
  dw.fill(0);
  const tapStride = inC * outC;
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const dyBase = ((b * outH + oh) * outW + ow) * outC;
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * sH - padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = ow * sW - padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            const xBase = ((b * inH + ih) * inW + iw) * inC;
            let w = (kh * kW + kw) * tapStride;
            for (let ci = 0; ci < inC; ci++, w += outC) {
              const xv = xs[xBase + ci];
              if (xv === 0) continue; // common after ReLU
              for (let co = 0; co < outC; co++) dw[w + co] += xv * dys[dyBase + co];
            }
          }
        }
      }
    }
  }
  return out;
}

export function conv2DBackpropFilterWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = (args.attrs ?? {}) as Record<string, unknown>;
  const backend = asWasmBackend(args.backend);
  const g = geometry(x, dy, attrs);
  const filterShape = [g.kH, g.kW, g.inC, g.outC];
  if (g.batch * g.outH * g.outW === 0 || filterShape.some((d) => d === 0)) {
    const out = backend.makeOutput(filterShape, 'float32');
    heapF32(backend, out).fill(0);
    return out;
  }
  if (method === 'direct') return backpropFilterDirect(backend, x, dy, g, filterShape);
  const convFits = g.sH === 1 && g.sW === 1 && g.kH + g.outH - 1 - g.inH - g.padTop >= 0 && g.kW + g.outW - 1 - g.inW - g.padLeft >= 0;
  // With few input channels the patch matrix is small and im2col wins: the convolution path's
  // Conv2D packs dy (its "filter") anew on every call. Measured on the Mini-ImageNet CNN's layers:
  // 84x84x3 -> 32: im2col 10 ms, conv 18 ms; 42x42x32 -> 32: im2col 31 ms, conv 19 ms.
  if ((method === 'conv' || (method === 'auto' && g.inC >= 8)) && convFits) return backpropFilterConv(backend, x, dy, g);
  return backpropFilterIm2col(backend, x, dy, g, filterShape);
}

export const conv2DBackpropFilterWasmConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWasm as unknown as tf.KernelFunc,
};
