/**
 * What `npm run bench` measures of the native addon itself: the machine's attainable peak at the
 * level the CNN kernel runs (native/peak.c), and the kernel's forward pass and training step on one
 * task, timed from outside the kernel through its public entry points (cnn_predict, cnn_adapt), so
 * that the speed can be read as a fraction of that peak.
 */
import { availableParallelism } from 'node:os';
import { NativeMemory, type NativeExports } from '../src/kernels/fused-native.js';
import type { KernelMemory } from '../src/kernels/fused-wasm.js';
import { Rng } from '../src/core/rng.js';
import type { CnnShape } from './cnn-flops.js';

export interface Peak {
  level: string;
  /** GFLOP/s of the multiply-add loop on one thread, and on `threads` threads at once (every core). */
  oneCore: number;
  allCores: number;
  threads: number;
}

/**
 * The attainable peak at the addon's level: the best ~20 ms round within `seconds`, on one thread,
 * then on every core at once; each thread's rate over its own CPU time (native/peak.c).
 */
export function measurePeak(addon: NativeExports, seconds: number): Peak {
  const threads = availableParallelism();
  return { level: addon.cpu_level(), oneCore: addon.peak_gflops(seconds, 1), allCores: addon.peak_gflops(seconds, threads), threads };
}

/** Hands out `memory`'s offsets one after another, each a whole number of 64-byte lines, growing it as needed. */
export function allocator(memory: KernelMemory): (floats: number) => number {
  let next = memory.start;
  return (floats) => {
    const at = next;
    next += 4 * Math.ceil(floats / 16) * 16;
    memory.ensure(next);
    return at;
  };
}

export interface KernelTimes {
  /** CPU seconds of one forward pass over a batch (cnn_predict), and of one training step (cnn_adapt over `steps` steps, divided). */
  forward: number;
  step: number;
}

/**
 * Times the fused CNN kernel on one thread at `shape`: Adam, summed cross-entropy, random inputs
 * and parameters (the time does not depend on the values). Each time is the CPU time of the best of
 * `repeats` calls, as the peak is timed: what the core did, not how long other processes kept it waiting.
 */
export function timeCnnKernel(addon: NativeExports, shape: CnnShape, steps: number, repeats: number, pools = 0): KernelTimes {
  const { height: H, width: W, channels: C, filters: F, classes, stride: S, blocks, batch } = shape;
  // The kernel's descriptor: block count, a bit mask of the stride-2 blocks, a bit mask of the pooling blocks (`pools`: none by default).
  const dims = [H, W, C, F, classes, blocks, S === 2 ? (1 << blocks) - 1 : 0, pools] as const;
  const P = addon.cnn_param_count(...dims);
  const work = addon.cnn_work_floats(...dims, batch);
  const count = batch;
  const memory = new NativeMemory();
  const alloc = allocator(memory);
  const at = {
    rates: alloc(steps), params: alloc(P), slot1: alloc(P), slot2: alloc(P), x: alloc(count * H * W * C),
    labels: alloc(count), rows: alloc(steps * batch), logits: alloc(count * classes), work: alloc(work),
  };
  const buffer = memory.buffer();
  const rng = Rng.fromSeed(1);
  const fill = (offset: number, n: number, f: (i: number) => number) => {
    const view = new Float32Array(buffer, offset, n);
    for (let i = 0; i < n; i++) view[i] = f(i);
  };
  fill(at.rates, steps, () => 0.001);
  fill(at.params, P, () => rng.uniform(-0.1, 0.1));
  fill(at.x, count * H * W * C, () => rng.uniform(0, 1));
  new Int32Array(buffer, at.labels, count).set(Array.from({ length: count }, (_, i) => i % classes));
  new Int32Array(buffer, at.rows, steps * batch).set(Array.from({ length: steps * batch }, (_, i) => i % count));
  const best = (run: () => void) => {
    let fastest = Infinity;
    for (let r = 0; r < repeats; r++) {
      const start = process.cpuUsage();
      run();
      const used = process.cpuUsage(start);
      fastest = Math.min(fastest, used.user + used.system);
    }
    return fastest / 1e6;
  };
  const forward = best(() => addon.cnn_predict(buffer, ...dims, at.params, at.x, count, at.logits, at.work));
  // Adam (kind 2) with beta1 0, as the bench's configurations; summed cross-entropy (loss 1). The slots start at zero each call.
  const adapt = () => {
    new Float32Array(buffer, at.slot1, 2 * P).fill(0);
    addon.cnn_adapt(buffer, ...dims, 1, 2, at.rates, 0, 0, 0.999, 1e-8, at.params, at.slot1, at.slot2, at.x, at.labels, at.rows, steps, batch, at.work, count);
  };
  const step = best(adapt) / steps;
  return { forward, step };
}
