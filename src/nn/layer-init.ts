/**
 * Fresh values for a converted tfjs-layers model's weights (`fromLayersModel(..., { reinit: true })`),
 * drawn from the run's seeded generator as each layer's own initializer would draw them, so that
 * the same seed gives the same weights everywhere (tfjs's initializers draw from their own
 * unseeded generator). The initializer arrives as tfjs-layers serialises it (`{ className, config }`);
 * Glorot, He and LeCun serialise as VarianceScaling.
 */
import type { Rng } from '../core/rng.js';
import { initKernel, uniformArray } from './init.js';

export interface InitializerConfig {
  className: string;
  config?: Record<string, unknown>;
}

type Mode = 'fanIn' | 'fanOut' | 'fanAvg';
type Distribution = 'uniform' | 'normal' | 'truncatedNormal';
interface Scaling {
  scale: number;
  mode: Mode;
  distribution: Distribution;
}

/** Named presets, in case a config names one instead of VarianceScaling. */
const PRESETS: Readonly<Record<string, Scaling>> = {
  GlorotUniform: { scale: 1, mode: 'fanAvg', distribution: 'uniform' },
  GlorotNormal: { scale: 1, mode: 'fanAvg', distribution: 'normal' },
  HeUniform: { scale: 2, mode: 'fanIn', distribution: 'uniform' },
  HeNormal: { scale: 2, mode: 'fanIn', distribution: 'normal' },
  LeCunUniform: { scale: 1, mode: 'fanIn', distribution: 'uniform' },
  LeCunNormal: { scale: 1, mode: 'fanIn', distribution: 'normal' },
};

export const RESEEDABLE_INITIALIZERS = ['Zeros', 'Ones', 'Constant', 'RandomUniform', 'RandomNormal', 'TruncatedNormal', 'VarianceScaling', ...Object.keys(PRESETS)];

/** Fans as tfjs-layers computes them: [in, out] for dense kernels, times the receptive field for conv kernels. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 1) return [shape[0], shape[0]];
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2] * receptive, shape[shape.length - 1] * receptive];
}

/** A standard normal value, optionally redrawn beyond 2 (tfjs's truncated normal). */
function normal(rng: Rng, truncated: boolean): number {
  for (;;) {
    const z = rng.normal();
    if (!truncated || Math.abs(z) <= 2) return z;
  }
}

function normalArray(rng: Rng, size: number, mean: number, stddev: number, truncated: boolean): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = mean + stddev * normal(rng, truncated);
  return out;
}

function scaled(rng: Rng, { scale, mode, distribution }: Scaling, shape: readonly number[], size: number): Float32Array {
  const [fanIn, fanOut] = fans(shape);
  // Glorot uniform is the library's own 'tensorflow' scheme (nn/init.ts).
  if (scale === 1 && mode === 'fanAvg' && distribution === 'uniform') return initKernel(rng, 'tensorflow', size, fanIn, fanOut);
  const fan = Math.max(1, mode === 'fanIn' ? fanIn : mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2);
  const variance = scale / fan;
  // tfjs-layers draws 'normal' truncated at two standard deviations, as Keras 2 did.
  if (distribution === 'uniform') return uniformArray(rng, size, Math.sqrt(3 * variance));
  return normalArray(rng, size, 0, Math.sqrt(variance), true);
}

/** Values of a weight of `shape` as `initializer` draws them, from `rng`; `where` names the weight in errors. */
export function initialValues(rng: Rng, initializer: InitializerConfig, shape: readonly number[], where: string): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const c = initializer.config ?? {};
  const num = (key: string, fallback: number) => (typeof c[key] === 'number' ? (c[key] as number) : fallback);
  switch (initializer.className) {
    case 'Zeros':
      return new Float32Array(size);
    case 'Ones':
      return new Float32Array(size).fill(1);
    case 'Constant':
      return new Float32Array(size).fill(num('value', 0));
    case 'RandomUniform': {
      const [low, high] = [num('minval', -0.05), num('maxval', 0.05)];
      return Float32Array.from(uniformArray(rng, size, 1), (u) => low + ((u + 1) / 2) * (high - low));
    }
    case 'RandomNormal':
    case 'TruncatedNormal':
      return normalArray(rng, size, num('mean', 0), num('stddev', 0.05), initializer.className === 'TruncatedNormal');
    case 'VarianceScaling':
      return scaled(rng, { scale: num('scale', 1), mode: (c.mode as Mode) ?? 'fanIn', distribution: (c.distribution as Distribution) ?? 'normal' }, shape, size);
    default: {
      const preset = PRESETS[initializer.className];
      if (preset) return scaled(rng, preset, shape, size);
      throw new Error(`${where}: reinit cannot draw the ${initializer.className} initializer from the seed; supported: ${RESEEDABLE_INITIALIZERS.join(', ')}`);
    }
  }
}
