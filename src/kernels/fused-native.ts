/**
 * The native addon (native/node-addon.c, built by node-gyp when the package is installed, with
 * the machine's own vector instructions): loaded on first use in Node, never in browsers.
 * Missing (no compiler or Node headers at install time), the factory
 * (src/algorithms/select-inner-loop.ts) takes the kernels' WebAssembly builds; callers that do
 * not want it say so in the factory's options (the CLI: REPTILE_NATIVE=0).
 */
import type { KernelMemory } from './fused-wasm.js';

export interface NativeExports {
  cnn_param_count(H: number, W: number, C: number, F: number, classes: number, stride: number): number;
  cnn_work_floats(H: number, W: number, C: number, F: number, classes: number, stride: number, batch: number): number;
  cnn_adapt(memory: ArrayBuffer, ...args: number[]): number;
  cnn_predict(memory: ArrayBuffer, ...args: number[]): void;
  add_into(memory: ArrayBuffer, acc: number, x: number, n: number): void;
  divide_by(memory: ArrayBuffer, acc: number, d: number, n: number): void;
}

/** Where node-gyp puts the addon, from this file in dist/src/kernels. */
const ADDON_PATH = '../../../build/Release/fused_native.node';

let loaded: NativeExports | undefined;
let tried = false;
let reason = 'not loaded yet';

interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
}

/** The addon's functions, or undefined where there is none (browsers, or not built). */
export function nativeKernels(): NativeExports | undefined {
  if (tried) return loaded;
  tried = true;
  const proc = (globalThis as { process?: NodeProcess }).process;
  if (!proc?.getBuiltinModule) {
    reason = 'not running in Node.js';
    return undefined;
  }
  try {
    const { createRequire } = proc.getBuiltinModule('node:module') as typeof import('node:module');
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeExports;
    reason = 'loaded';
  } catch (e) {
    reason = `not built (${(e as Error).message.split('\n')[0]}); npm rebuild builds it where g++ and Node's headers are installed`;
  }
  return loaded;
}

/** Why `nativeKernels()` returned what it did, for diagnostics (the tests name it when they skip). */
export function nativeKernelsStatus(): string {
  nativeKernels();
  return reason;
}

/** First offset handed out: offset 0 means "none" to the addon. */
const NATIVE_START = 64;

/** An ArrayBuffer the addon works in, grown by copying. */
export class NativeMemory implements KernelMemory {
  readonly start = NATIVE_START;
  private data = new ArrayBuffer(1 << 20);
  buffer(): ArrayBuffer {
    return this.data;
  }
  ensure(bytes: number): void {
    if (bytes <= this.data.byteLength) return;
    const grown = new ArrayBuffer(Math.max(bytes, 2 * this.data.byteLength));
    new Uint8Array(grown).set(new Uint8Array(this.data));
    this.data = grown;
  }
}
