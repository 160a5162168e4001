/**
 * The native addon (native/node-addon.c, built by node-gyp when the package is installed, once per
 * instruction-set level: see CPU_LEVELS): loaded on first use in Node, never in browsers.
 * Missing (no compiler or Node headers at install time), the factory
 * (src/algorithms/select-inner-loop.ts) takes the kernels' WebAssembly builds; callers that do
 * not want it say so in the factory's options (the CLI: REPTILE_NATIVE=0).
 */
import type { KernelMemory } from './fused-wasm.js';

export interface NativeExports {
  /** The architecture: H, W, C, F, classes, blocks, stride-2 mask, pool mask (native/fused-cnn.h); then the batch. */
  cnn_param_count(...arch: number[]): number;
  cnn_work_floats(...archAndBatch: number[]): number;
  cnn_adapt(memory: ArrayBuffer, ...args: number[]): number;
  cnn_predict(memory: ArrayBuffer, ...args: number[]): void;
  add_into(memory: ArrayBuffer, acc: number, x: number, n: number): void;
  divide_by(memory: ArrayBuffer, acc: number, d: number, n: number): void;
  /** The levels this CPU runs, worst first; the level that runs; running another (in every thread). */
  cpu_levels(): CpuLevel[];
  cpu_level(): CpuLevel;
  set_cpu_level(level: CpuLevel): void;
  /** The attainable GFLOP/s of a multiply-add loop at the level that runs, on `threads` threads at once (native/peak.c; `npm run bench`). */
  peak_gflops(seconds: number, threads: number): number;
}

/**
 * The instruction-set levels the addon is built for, worst first: portable C (SSE2 on x86-64,
 * NEON on arm64), AVX2 with FMA, AVX-512 (F) with FMA; the last two on x86-64 only.
 * The best one the CPU runs is taken unless the environment's REPTILE_CPU names another.
 */
export const CPU_LEVELS = ['baseline', 'avx2', 'avx512'] as const;
export type CpuLevel = (typeof CPU_LEVELS)[number];

/** Where node-gyp puts the addon, from this file in dist/src/kernels. */
const ADDON_PATH = '../../../build/Release/fused_native.node';

let loaded: NativeExports | undefined;
let tried = false;
let reason = 'not loaded yet';
/** REPTILE_CPU's refusal (an unknown level, or one this CPU lacks): every use of the addon throws it. */
let refusal: string | undefined;

interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
  env?: Record<string, string | undefined>;
}

function nodeProcess(): NodeProcess | undefined {
  return (globalThis as { process?: NodeProcess }).process;
}

/**
 * Why REPTILE_CPU cannot be honoured, in one line, or undefined when it is unset or names a level
 * the addon runs here. `runs`: the levels this CPU runs (undefined: the addon is not built).
 */
export function cpuLevelRefusal(wanted: string | undefined, runs: readonly string[] | undefined): string | undefined {
  if (wanted === undefined || wanted === '') return undefined;
  if (!(CPU_LEVELS as readonly string[]).includes(wanted)) return `REPTILE_CPU=${wanted}: unknown level; allowed: ${CPU_LEVELS.join(', ')}`;
  if (!runs) return `REPTILE_CPU=${wanted} forces a level of the native addon, which is ${reason}`;
  if (!runs.includes(wanted)) return `REPTILE_CPU=${wanted}: this CPU (or this build of the addon) lacks it; it runs ${runs.join(', ')}`;
  return undefined;
}

function load(): void {
  tried = true;
  const proc = nodeProcess();
  if (!proc?.getBuiltinModule) {
    reason = 'not running in Node.js';
    return;
  }
  try {
    const { createRequire } = proc.getBuiltinModule('node:module') as typeof import('node:module');
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeExports;
    reason = 'loaded';
  } catch (e) {
    reason = `not built (${(e as Error).message.split('\n')[0]}); npm rebuild builds it where a C compiler and Node's headers are installed; native-build.log has the install's build output`;
  }
  const wanted = proc.env?.REPTILE_CPU;
  refusal = cpuLevelRefusal(wanted, loaded?.cpu_levels());
  if (refusal) reason = refusal;
  else if (wanted) loaded!.set_cpu_level(wanted as CpuLevel);
}

/**
 * The addon's functions, or undefined where there is none (browsers, or not built). Throws
 * REPTILE_CPU's refusal: a level forced is never silently replaced by another (nor by the wasm build).
 */
export function nativeKernels(): NativeExports | undefined {
  if (!tried) load();
  if (refusal) throw new Error(refusal);
  return loaded;
}

/** Why `nativeKernels()` returned what it did, with the level that runs, for diagnostics (the tests name it when they skip). */
export function nativeKernelsStatus(): string {
  if (!tried) load();
  if (!loaded || refusal) return reason;
  return `loaded, running its ${loaded.cpu_level()} level (this CPU runs ${loaded.cpu_levels().join(', ')})`;
}

/** REPTILE_CPU's refusal (one line), or undefined: what the command line checks before it starts. */
export function nativeCpuRefusal(): string | undefined {
  if (!tried) load();
  return refusal;
}

/** The instruction-set level the addon runs (undefined where it is not loaded). */
export function nativeCpuLevel(): CpuLevel | undefined {
  return nativeKernels()?.cpu_level();
}

/** The levels this CPU runs, worst first (none where the addon is not loaded): the tests run the kernel at each. */
export function nativeCpuLevels(): CpuLevel[] {
  return nativeKernels()?.cpu_levels() ?? [];
}

/** Runs `level` from now on, in every thread of the process (the tests' way through the levels; REPTILE_CPU's for a whole run). */
export function useNativeCpuLevel(level: CpuLevel): void {
  const addon = nativeKernels();
  const problem = cpuLevelRefusal(level, addon?.cpu_levels());
  if (problem || !addon) throw new Error(problem ?? `the native addon is ${reason}`);
  addon.set_cpu_level(level);
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
