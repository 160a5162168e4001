/**
 * The WebAssembly modules built from native/fused-mlp.c and native/fused-cnn.c
 * (scripts/build-wasm.sh): loading them in Node and in browsers, and a bump allocator over a
 * kernel's memory.
 */
import type { HostParams } from '../core/params.js';
import { FUSED_MLP_WASM_BASE64 } from './fused-mlp-wasm.js';
import { FUSED_CNN_WASM_BASE64 } from './fused-cnn-wasm.js';

export interface FusedExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  mlp_adapt: (...args: number[]) => number;
  work_floats: (layers: number, sizes: number, batch: number) => number;
  add_into: (acc: number, x: number, n: number) => void;
  divide_by: (acc: number, d: number, n: number) => void;
  subtract: (out: number, a: number, b: number, n: number) => void;
  add_scaled: (out: number, a: number, u: number, t: number, n: number) => void;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return Uint8Array.from(Buffer.from(text, 'base64'));
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** One of the checked-in WebAssembly modules, compiled on first use; each instance has its own memory. */
export class WasmKernelModule {
  private compiled: WebAssembly.Module | undefined;
  private compileFailed = false;

  constructor(private readonly base64: string) {}

  /**
   * The compiled module, compiled synchronously on first use. Where synchronous compilation of a
   * module this size is refused (a browser's main thread), this returns undefined at first,
   * starts an asynchronous compilation, and returns the module once that is done.
   */
  module(): WebAssembly.Module | undefined {
    if (this.compiled || this.compileFailed) return this.compiled;
    const bytes = decodeBase64(this.base64);
    try {
      this.compiled = new WebAssembly.Module(bytes);
    } catch {
      this.compileFailed = true;
      WebAssembly.compile(bytes).then(
        (m) => ((this.compiled = m), (this.compileFailed = false)),
        () => undefined,
      );
    }
    return this.compiled;
  }

  /** Compiles asynchronously (as browsers require on their main thread); false where WebAssembly SIMD is not available. */
  async prepare(): Promise<boolean> {
    if (this.compiled) return true;
    try {
      this.compiled = await WebAssembly.compile(decodeBase64(this.base64));
      this.compileFailed = false;
      return true;
    } catch {
      return false;
    }
  }

  /** A new instance (its own memory), or undefined while the module is not compiled. */
  instance<T>(): T | undefined {
    const module = this.module();
    return module ? (new WebAssembly.Instance(module, {}).exports as unknown as T) : undefined;
  }
}

export const FUSED_MLP_MODULE = new WasmKernelModule(FUSED_MLP_WASM_BASE64);
export const FUSED_CNN_MODULE = new WasmKernelModule(FUSED_CNN_WASM_BASE64);

/**
 * Linear memory a kernel works in: a WebAssembly instance's, or an ArrayBuffer handed to the native
 * addon (fused-native.ts). Offsets below `start` are never handed out, so 0 can mean "none".
 */
export interface KernelMemory {
  readonly start: number;
  /** The current buffer (it changes when the memory grows: take views after every `ensure`). */
  buffer(): ArrayBuffer;
  /** Makes the memory at least `bytes` long, keeping its contents. */
  ensure(bytes: number): void;
}

/** A WebAssembly instance's memory, from its heap base on. */
export function wasmMemory(exports: Pick<FusedExports, 'memory' | '__heap_base'>): KernelMemory {
  return {
    start: exports.__heap_base.value as number,
    buffer: () => exports.memory.buffer as ArrayBuffer,
    ensure(bytes) {
      const missing = bytes - exports.memory.buffer.byteLength;
      if (missing > 0) exports.memory.grow(Math.ceil(missing / 65536));
    },
  };
}

/** A bump allocator over a kernel's memory: offsets are bytes, 16-aligned. */
export class Arena {
  private top: number;
  constructor(readonly memory: KernelMemory) {
    this.top = memory.start;
  }
  reset(): void {
    this.top = this.memory.start;
  }
  alloc(bytes: number): number {
    const at = (this.top + 15) & ~15;
    this.top = at + bytes;
    this.memory.ensure(this.top);
    return at;
  }
  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer(), at, length);
  }
  i32(at: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer(), at, length);
  }
}


/**
 * Compiles the kernels asynchronously, as browsers require on their main thread for modules this
 * size; call it once at start-up so that the first adaptation already takes the fused path.
 * Resolves to false where WebAssembly SIMD is not available (the tfjs path is used then).
 */
export async function prepareFusedKernels(): Promise<boolean> {
  const [mlp] = await Promise.all([FUSED_MLP_MODULE.prepare(), FUSED_CNN_MODULE.prepare()]);
  return mlp;
}

/** A host parameter set of these names and shapes, copied out of consecutive values of `flat`. */
export function splitFlat(flat: Float32Array, names: readonly string[], shapes: readonly (readonly number[])[]): HostParams {
  let offset = 0;
  const values = shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = flat.slice(offset, offset + size);
    offset += size;
    return v;
  });
  return { names: names.slice(), shapes: shapes.map((s) => s.slice()), values };
}

/** A new instance of the MLP kernel (its own memory), or undefined while the module is not compiled. */
export function fusedInstance(): FusedExports | undefined {
  return FUSED_MLP_MODULE.instance<FusedExports>();
}
