/**
 * TensorFlow.js in the page: WebGPU, then WebGL, then wasm (whose .wasm binaries Vite copies
 * from @tensorflow/tfjs-backend-wasm's dist into the build, so we serve them ourselves).
 * `?backend=wasm|webgl|webgpu|cpu` in the URL forces one.
 */
import { prepareFusedKernels, tf } from '../src/index.js';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Selects the first backend that initialises; returns its name. */
export async function selectBackend(): Promise<string> {
  const forced = new URLSearchParams(location.search).get('backend');
  const order = forced ? [forced] : ORDER;
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // The fused MLP inner loop (WebAssembly SIMD) compiles asynchronously in a page.
        await prepareFusedKernels();
        return name;
      }
    } catch {
      // Not available here (no GPU adapter, no WebGL context): try the next.
    }
  }
  throw new Error(`no TensorFlow.js backend initialised (tried ${order.join(', ')})`);
}
