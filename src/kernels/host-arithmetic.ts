/**
 * The meta-update's element-wise arithmetic on host parameter sets (the mean of the adapted
 * parameters and states, the direction mean - theta, the step theta + eps u) in WebAssembly SIMD
 * (native/fused-mlp.c add_into, divide_by, subtract, add_scaled): about 5x faster than the same
 * loops in JavaScript (core/host-params.ts), and the same bits (IEEE float32 operations in the
 * same order). One instance per thread, created on first use; where the module cannot be compiled
 * synchronously (a browser's main thread, at first) the JavaScript versions run.
 */
import type { HostParams } from '../core/params.js';
import { hostAddScaled, hostMean, hostSubtract } from '../core/host-params.js';
import { Arena, fusedInstance, splitFlat, wasmMemory, type FusedExports } from './fused-wasm.js';

let instance: { exports: FusedExports; arena: Arena } | undefined;

function wasm(): { exports: FusedExports; arena: Arena } | undefined {
  if (!instance) {
    const exports = fusedInstance();
    if (exports) instance = { exports, arena: new Arena(wasmMemory(exports)) };
  }
  return instance;
}

const total = (p: HostParams) => p.values.reduce((n, v) => n + v.length, 0);

/** Copies each set into its own region; returns the regions' offsets. */
function copyIn(arena: Arena, sets: readonly HostParams[]): number[] {
  const n = total(sets[0]);
  arena.reset();
  return sets.map((p) => {
    const at = arena.alloc(4 * n);
    let offset = 0;
    for (const v of p.values) {
      arena.f32(at + 4 * offset, v.length).set(v);
      offset += v.length;
    }
    return at;
  });
}

const sameLayout = (a: HostParams, b: HostParams) => a.names.length === b.names.length && a.values.every((v, k) => a.names[k] === b.names[k] && v.length === b.values[k].length);

/** hostMean's bits: ((s0 + s1) + s2 ...) / n. */
export function fastHostMean(sets: readonly HostParams[]): HostParams {
  const w = wasm();
  if (!w || sets.length < 2 || !sets.every((s) => sameLayout(sets[0], s))) return hostMean(sets);
  const n = total(sets[0]);
  const [acc, ...rest] = copyIn(w.arena, sets);
  for (const at of rest) w.exports.add_into(acc, at, n);
  w.exports.divide_by(acc, sets.length, n);
  return splitFlat(w.arena.f32(acc, n), sets[0].names, sets[0].shapes);
}

/** hostSubtract's bits: a - b. */
export function fastHostSubtract(a: HostParams, b: HostParams): HostParams {
  const w = wasm();
  if (!w || !sameLayout(a, b)) return hostSubtract(a, b);
  const n = total(a);
  const [atA, atB] = copyIn(w.arena, [a, b]);
  w.exports.subtract(atA, atA, atB, n);
  return splitFlat(w.arena.f32(atA, n), a.names, a.shapes);
}

/** hostAddScaled's bits: a + u rate(name), one call per run of parameters that share a rate. */
export function fastHostAddScaled(a: HostParams, u: HostParams, rate: (name: string) => number): HostParams {
  const w = wasm();
  if (!w || !sameLayout(a, u)) return hostAddScaled(a, u, rate);
  const [atA, atU] = copyIn(w.arena, [a, u]);
  let offset = 0;
  a.values.forEach((v, k) => {
    w.exports.add_scaled(atA + 4 * offset, atA + 4 * offset, atU + 4 * offset, Math.fround(rate(a.names[k])), v.length);
    offset += v.length;
  });
  return splitFlat(w.arena.f32(atA, total(a)), a.names, a.shapes);
}
