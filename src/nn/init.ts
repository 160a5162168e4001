/**
 * Weight initialisers, drawn on the host from the run's seeded generator so that the same seed
 * gives the same weights on every backend.
 *
 * - 'tensorflow': TensorFlow's defaults (Glorot-uniform kernels, zero biases), which
 *   openai/supervised-reptile used.
 * - 'pytorch': PyTorch's nn.Linear / nn.Conv2d defaults (kaiming_uniform_(a=sqrt(5)), i.e.
 *   U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights, and the same bound for biases), which the
 *   Reptile sine demo and the article's listing used.
 */
import type { Rng } from '../core/rng.js';

export const INIT_SCHEMES = ['tensorflow', 'pytorch'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

/** `size` values drawn uniformly from [-bound, bound). */
export function uniformArray(rng: Rng, size: number, bound: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/** Kernel values for a layer with the given fan-in and fan-out. */
export function initKernel(rng: Rng, scheme: InitScheme, size: number, fanIn: number, fanOut: number): Float32Array {
  const bound = scheme === 'tensorflow' ? Math.sqrt(6 / (fanIn + fanOut)) : 1 / Math.sqrt(fanIn);
  return uniformArray(rng, size, bound);
}

/** Bias values for a layer with the given fan-in. */
export function initBias(rng: Rng, scheme: InitScheme, size: number, fanIn: number): Float32Array {
  return scheme === 'tensorflow' ? new Float32Array(size) : uniformArray(rng, size, 1 / Math.sqrt(fanIn));
}
