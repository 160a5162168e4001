/**
 * Kernels that the library adds to TensorFlow.js backends. Importing this module registers them
 * (src/core/tf.ts imports it, so they are active whenever the library is used).
 *
 * - wasm Conv2DBackpropFilter: missing in tfjs-backend-wasm (no conv model could train there).
 *   Added only if absent, so a later tfjs-backend-wasm that ships its own keeps it.
 * - wasm Conv2DBackpropInput: present but slow (a scalar C++ loop nest); replaced by a faster one.
 * - wasm MaxPoolGrad: present but wrong for some windows with a negative maximum; replaced.
 * - wasm BatchMatMul: transposed operands are transposed first, so the fast path runs; wraps the original.
 * - wasm and cpu ReptileAdamUpdate / ReptileSgdUpdate: fused optimizer updates (fused-optimizers.ts).
 */
import * as tf from '@tensorflow/tfjs';
// The wasm backend's own kernels must be registered before ours replace or wrap them.
import '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropFilterWasmConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputWasmConfig } from './conv2d-backprop-input.js';
import { maxPoolGradWasmConfig } from './max-pool-grad.js';
import { batchMatMulWasmConfig } from './batch-mat-mul.js';
import { fusedOptimizerKernels } from './fused-optimizers.js';

export { conv2DBackpropFilterWasm, setConv2DBackpropFilterMethod, type BackpropFilterMethod } from './conv2d-backprop-filter.js';
export { conv2DBackpropInputWasm } from './conv2d-backprop-input.js';
export { maxPoolGradWasm } from './max-pool-grad.js';
export { fusedAdamUpdate, fusedSgdUpdate, fusedUpdateAvailable } from './fused-optimizers.js';

const KERNELS: { config: tf.KernelConfig; replace: boolean }[] = [
  { config: conv2DBackpropFilterWasmConfig, replace: false },
  { config: conv2DBackpropInputWasmConfig, replace: true },
  { config: maxPoolGradWasmConfig, replace: true },
  ...fusedOptimizerKernels.map((config) => ({ config, replace: false })),
];
const originalBatchMatMul = tf.getKernel('BatchMatMul', 'wasm');
if (originalBatchMatMul) KERNELS.push({ config: batchMatMulWasmConfig(originalBatchMatMul), replace: true });

/** The backend's own kernels that were replaced, by "kernelName/backendName" (for tests and benchmarks). */
export const replacedKernels = new Map<string, tf.KernelConfig>();
/** "kernelName/backendName" of every kernel this module registered. */
export const registeredKernels: string[] = [];

for (const { config, replace } of KERNELS) {
  const key = `${config.kernelName}/${config.backendName}`;
  const existing = tf.getKernel(config.kernelName, config.backendName);
  if (existing && !replace) continue;
  if (existing) {
    replacedKernels.set(key, existing);
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
  registeredKernels.push(key);
}

/**
 * Puts the backend's original kernel back (`useOriginal` true) or ours (false); for comparisons
 * in tests and benchmarks. Returns false if there is no such replaced kernel.
 */
export function useOriginalKernel(kernelName: string, backendName: string, useOriginal: boolean): boolean {
  const key = `${kernelName}/${backendName}`;
  const original = replacedKernels.get(key);
  const ours = KERNELS.find((k) => k.config.kernelName === kernelName && k.config.backendName === backendName)?.config;
  if (!original || !ours) return false;
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel(useOriginal ? original : ours);
  // The original's setup (binding its wasm function) runs when the backend initialises, which
  // skipped it while it was unregistered.
  const backend = tf.findBackend(backendName);
  if (useOriginal && backend && original.setupFunc) original.setupFunc(backend);
  return true;
}
