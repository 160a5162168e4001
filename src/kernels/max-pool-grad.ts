/**
 * MaxPoolGrad (the gradient of max-pooling) for the tfjs-wasm backend, REPLACING the backend's
 * own, which is wrong in tfjs-backend-wasm 4.22: for some windows whose maximum is negative it
 * drops the gradient (e.g. window [-3, -2; -7, -8] -> all zeros; the cpu backend routes it to the
 * -2). The Mini-ImageNet CNN max-pools batch-normalised values, half of them negative. (There, a
 * negative maximum is zeroed by the following ReLU, so its gradient is zero anyway; other models
 * would get wrong gradients.) Hand-written because no library provides a fixed one for tfjs-wasm.
 *
 * Same semantics as the cpu backend: each output's gradient goes to the first maximum of its
 * window in row-major order (strictly greater wins), padding never wins. NHWC, any window,
 * strides, padding and dilations that tfjs's pooling accepts.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32 } from './wasm-heap.js';

type TensorInfo = tf.TensorInfo;

export function maxPoolGradWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = (args.attrs ?? {}) as unknown as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const backend = asWasmBackend(args.backend);
  if (input.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`MaxPoolGrad (reptile wasm kernel): input and dy must be rank 4, got [${input.shape}] and [${dy.shape}]`);
  }
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`MaxPoolGrad (reptile wasm kernel): input and dy must be float32, got ${input.dtype} and ${dy.dtype}`);
  }
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: batch, inHeight: inH, inWidth: inW, inChannels: channels, outHeight: outH, outWidth: outW } = info;
  const { strideHeight: sH, strideWidth: sW, dilationHeight: dH, dilationWidth: dW, effectiveFilterHeight: fH, effectiveFilterWidth: fW } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (dy.shape[0] !== batch || dy.shape[1] !== outH || dy.shape[2] !== outW || dy.shape[3] !== channels) {
    throw new Error(`MaxPoolGrad (reptile wasm kernel): dy has shape [${dy.shape}], expected [${info.outShape}]`);
  }
  const out = backend.makeOutput([...input.shape], 'float32');
  // Views after the allocation (it may have grown the heap).
  const dx = heapF32(backend, out);
  const x = heapF32(backend, input);
  const g = heapF32(backend, dy);
  dx.fill(0);
  const rowStride = inW * channels;
  const imageStride = inH * rowStride;
  // Per output position, the window's taps are visited in row-major order with the channels
  // innermost (contiguous reads), keeping each channel's running maximum and its index.
  const fast2x2 = fH === 2 && fW === 2 && dH === 1 && dW === 1;
  const best = new Float32Array(channels);
  const at = new Int32Array(channels);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    const image = b * imageStride;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sH - padTop;
      for (let ow = 0; ow < outW; ow++, o += channels) {
        const w0 = ow * sW - padLeft;
        if (fast2x2 && h0 >= 0 && h0 + 1 < inH && w0 >= 0 && w0 + 1 < inW) {
          // The common 2x2 window inside the image, without the per-tap bounds logic (~1.5x faster).
          const p00 = image + h0 * rowStride + w0 * channels;
          const p01 = p00 + channels;
          const p10 = p00 + rowStride;
          const p11 = p10 + channels;
          for (let c = 0; c < channels; c++) {
            let m = -Infinity;
            let i = -1;
            const v00 = x[p00 + c];
            const v01 = x[p01 + c];
            const v10 = x[p10 + c];
            const v11 = x[p11 + c];
            i = v00 > m ? p00 + c : i;
            m = v00 > m ? v00 : m;
            i = v01 > m ? p01 + c : i;
            m = v01 > m ? v01 : m;
            i = v10 > m ? p10 + c : i;
            m = v10 > m ? v10 : m;
            i = v11 > m ? p11 + c : i;
            if (i >= 0) dx[i] += g[o + c];
          }
          continue;
        }
        // (Plain loops: TypedArray.fill's call overhead dominated at 88k positions per step.)
        for (let c = 0; c < channels; c++) {
          best[c] = -Infinity;
          at[c] = -1;
        }
        for (let kh = 0; kh < fH; kh += dH) {
          const ih = h0 + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < fW; kw += dW) {
            const iw = w0 + kw;
            if (iw < 0 || iw >= inW) continue;
            const base = image + ih * rowStride + iw * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < channels; c++) if (at[c] >= 0) dx[at[c]] += g[o + c];
      }
    }
  }
  return out;
}

export const maxPoolGradWasmConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGradWasm as unknown as tf.KernelFunc,
};
