/**
 * The WebAssembly module built from native/fused-mlp.c (scripts/build-wasm.sh): loading it in
 * Node and in browsers, and a bump allocator over an instance's memory.
 */
import type { HostParams } from '../core/params.js';
import { FUSED_MLP_WASM_BASE64 } from './fused-mlp-wasm.js';

export interface FusedExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  mlp_adapt: (...args: number[]) => number;
  work_floats: (layers: number, sizes: number, batch: number) => number;
  add_into: (acc: number, x: number, n: number) => void;
  divide_by: (acc: number, d: number, n: number) => void;
  interpolate: (out: number, a: number, b: number, t: number, n: number) => void;
}

let compiled: WebAssembly.Module | undefined;
let compileFailed = false;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return Uint8Array.from(Buffer.from(text, 'base64'));
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The compiled module, compiled synchronously on first use. Where synchronous compilation of a
 * module this size is refused (a browser's main thread), this returns undefined at first, starts
 * an asynchronous compilation, and returns the module once that is done.
 */
export function fusedModule(): WebAssembly.Module | undefined {
  if (compiled || compileFailed) return compiled;
  const bytes = decodeBase64(FUSED_MLP_WASM_BASE64);
  try {
    compiled = new WebAssembly.Module(bytes);
  } catch {
    compileFailed = true;
    WebAssembly.compile(bytes).then(
      (m) => ((compiled = m), (compileFailed = false)),
      () => undefined,
    );
  }
  return compiled;
}

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
export function wasmMemory(exports: FusedExports): KernelMemory {
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
 * Compiles the module asynchronously, as browsers require on their main thread for a module this
 * size; call it once at start-up so that the first adaptation already takes the fused path.
 * Resolves to false where WebAssembly SIMD is not available (the tfjs path is used then).
 */
export async function prepareFusedKernels(): Promise<boolean> {
  if (compiled) return true;
  try {
    compiled = await WebAssembly.compile(decodeBase64(FUSED_MLP_WASM_BASE64));
    compileFailed = false;
    return true;
  } catch {
    return false;
  }
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

/** A new instance (its own memory), or undefined while the module is not compiled. */
export function fusedInstance(): FusedExports | undefined {
  const module = fusedModule();
  return module ? (new WebAssembly.Instance(module, {}).exports as unknown as FusedExports) : undefined;
}
