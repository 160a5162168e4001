/**
 * Arithmetic on host parameter sets (Float32Array per parameter), for the meta-update when the
 * inner loop runs on the host (the fused MLP loop, the worker pool). Every operation is float32
 * arithmetic in the same order as core/params.ts does it with tfjs ops (sum in list order, then
 * divide; a + (b - a) t), so both give the same bits: a JavaScript double operation on two float32
 * values, rounded once to float32 by the store, is the correctly rounded float32 operation.
 * Where the wasm module is available (src/kernels/host-arithmetic.ts), it does the same faster.
 */
import type { HostParams } from './params.js';
import { wasmInterpolate, wasmMean } from '../kernels/host-arithmetic.js';

function requireSameLayout(a: HostParams, b: HostParams): void {
  if (a.names.length !== b.names.length || a.names.some((n, i) => n !== b.names[i] || a.values[i].length !== b.values[i].length)) {
    throw new Error(`host parameter sets differ: [${a.names.join(', ')}] vs [${b.names.join(', ')}]`);
  }
}

function mapHost(a: HostParams, f: (k: number) => Float32Array): HostParams {
  return { names: a.names.slice(), shapes: a.shapes.map((s) => s.slice()), values: a.values.map((_, k) => f(k)) };
}

/** Element-wise mean: ((s0 + s1) + s2) ... / n, in float32. */
export function hostMean(sets: readonly HostParams[]): HostParams {
  if (sets.length === 0) throw new Error('hostMean needs at least one parameter set');
  for (const s of sets) requireSameLayout(sets[0], s);
  return wasmMean(sets) ?? jsMean(sets);
}

/** hostMean in JavaScript (where the wasm module is not compiled yet; exported for tests). */
export function jsMean(sets: readonly HostParams[]): HostParams {
  const n = sets.length;
  return mapHost(sets[0], (k) => {
    const out = sets[0].values[k].slice();
    if (n === 1) return out;
    for (let s = 1; s < n; s++) {
      const v = sets[s].values[k];
      for (let i = 0; i < out.length; i++) out[i] += v[i];
    }
    for (let i = 0; i < out.length; i++) out[i] /= n;
    return out;
  });
}

/** a + (b - a) t, in float32 (t rounded to float32 first, as a tfjs scalar). */
export function hostInterpolate(a: HostParams, b: HostParams, t: number): HostParams {
  requireSameLayout(a, b);
  return wasmInterpolate(a, b, t) ?? jsInterpolate(a, b, t);
}

/** hostInterpolate in JavaScript (exported for tests). */
export function jsInterpolate(a: HostParams, b: HostParams, t: number): HostParams {
  const t32 = Math.fround(t);
  return mapHost(a, (k) => {
    const x = a.values[k];
    const y = b.values[k];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] + Math.fround(Math.fround(y[i] - x[i]) * t32);
    return out;
  });
}

/** a - b, in float32. */
export function hostSubtract(a: HostParams, b: HostParams): HostParams {
  requireSameLayout(a, b);
  return mapHost(a, (k) => {
    const x = a.values[k];
    const y = b.values[k];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] - y[i];
    return out;
  });
}
