/**
 * Arithmetic on host parameter sets (Float32Array per parameter), for the meta-update when the
 * inner loop runs on the host (a fused kernel, the worker pool). Every operation is float32
 * arithmetic in the same order as core/params.ts does it with tfjs ops (sum in list order, then
 * divide; a + u t), so both give the same bits: a JavaScript double operation on two float32
 * values, rounded once to float32 by the store, is the correctly rounded float32 operation.
 * (src/kernels/host-arithmetic.ts has a WebAssembly SIMD mean with the same bits, for engines.)
 */
import type { HostParams } from './params.js';
import type { HostOptimizerState } from './optimizer-state.js';

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

/**
 * The element-wise mean of optimizer states (the inner-loop contract's mode 'common'); its step
 * count is the last state's, as the kernels count on (tasks of a meta-batch take equal steps).
 */
export function hostMeanState(states: readonly HostOptimizerState[], mean: (sets: readonly HostParams[]) => HostParams = hostMean): HostOptimizerState {
  const slots: HostOptimizerState['slots'] = {};
  for (const name of Object.keys(states[0].slots)) slots[name] = mean(states.map((s) => s.slots[name]));
  return { step: states[states.length - 1].step, slots };
}

/**
 * a + u t, in float32 (t rounded to float32 first, as a tfjs scalar), with each parameter's t
 * taken from `rate(name)`: the outer update theta + eps u.
 */
export function hostAddScaled(a: HostParams, u: HostParams, rate: (name: string) => number): HostParams {
  requireSameLayout(a, u);
  return mapHost(a, (k) => {
    const t32 = Math.fround(rate(a.names[k]));
    const x = a.values[k];
    const y = u.values[k];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] + Math.fround(y[i] * t32);
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
