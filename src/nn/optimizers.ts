/**
 * Optimizers over parameter sets, with their state made explicit so that it can persist across
 * tasks (the original's inner Adam), start fresh (evaluation), be checkpointed, and be
 * differentiated through (every update is plain differentiable tensor arithmetic).
 *
 * `step` is pure: it returns new parameters and a new state and never disposes its inputs.
 * When nothing is being differentiated and the backend has them, one fused kernel updates all
 * parameters at once (src/kernels/fused-optimizers.ts); under a gradient tape the update is
 * composed of ordinary differentiable ops.
 *
 * `rateScale` multiplies the rate of some parameters (layer-wise rates, src/nn/param-scales.ts);
 * config.rateScale records it as text, so optimizerFromConfig rebuilds the same optimizer.
 */
import { tf } from '../core/tf.js';
// The kernels the library adds to TensorFlow.js's backends (Conv2DBackpropFilter on wasm, fused updates, ...).
import '../kernels/index.js';
import { mapParams, paramsFromList, type ParamSet } from '../core/params.js';
import { fusedAdamUpdate, fusedSgdUpdate, fusedUpdateAvailable } from '../kernels/fused-optimizers.js';
import type { OptimizerState } from '../core/optimizer-state.js';
import { formatParamScales, parseParamScales, scaleFor, type ParamScales } from './param-scales.js';

export { cloneOptimizerState, disposeOptimizerState, type OptimizerState } from '../core/optimizer-state.js';

export interface Optimizer {
  readonly name: string;
  readonly config: Readonly<Record<string, number | string | boolean>>;
  init(params: ParamSet): OptimizerState;
  /** One update. `learningRate` overrides the configured rate for this step (annealed schedules). */
  step(params: ParamSet, grads: ParamSet, state: OptimizerState, learningRate?: number): { params: ParamSet; state: OptimizerState };
}

function checkRate(name: string, value: number, low: number, high: number, highOpen = false): void {
  const ok = value >= low && (highOpen ? value < high : value <= high);
  if (!Number.isFinite(value) || !ok) {
    throw new RangeError(`${name} must be in [${low}, ${high}${highOpen ? ')' : ']'}, got ${value}`);
  }
}

export interface SgdOptions {
  learningRate: number;
  /** Heavy-ball momentum: v <- momentum * v + g; p <- p - lr * v (TensorFlow's and PyTorch's form). */
  momentum?: number;
  /** Use the fused kernel when possible (default true; false for comparisons). */
  fused?: boolean;
  /** Per-parameter multipliers of the rate (default: none). */
  rateScale?: ParamScales;
}

/** The config entry of a rate scale (none when there is no scaling, so older configs stay as they were). */
const scaleConfig = (rateScale: ParamScales | undefined): Record<string, string> => (rateScale && Object.keys(rateScale).length > 0 ? { rateScale: formatParamScales(rateScale) } : {});

/** `value` times parameter `name`'s rate multiplier (`value` itself without `rateScale`). */
const scaled = (rateScale: ParamScales | undefined, value: number, name: string) => (rateScale ? value * scaleFor(rateScale, name) : value);

/**
 * Runs a fused update once per group of parameters that share a rate multiplier (one call
 * without `rateScale`); `update(names, scale)` returns each name's outputs.
 */
function byScale<T>(names: readonly string[], rateScale: ParamScales | undefined, update: (group: string[], scale: number) => Record<string, T>): Record<string, T> {
  const groups = new Map<number, string[]>();
  for (const n of names) {
    const k = scaled(rateScale, 1, n);
    groups.set(k, [...(groups.get(k) ?? []), n]);
  }
  const out: Record<string, T> = {};
  for (const [scale, group] of groups) Object.assign(out, update(group, scale));
  return out;
}

export function sgd({ learningRate, momentum = 0, fused = true, rateScale }: SgdOptions): Optimizer {
  checkRate('learning rate', learningRate, 0, Infinity);
  checkRate('momentum', momentum, 0, 1, true);
  return {
    name: 'sgd',
    config: { learningRate, momentum, ...scaleConfig(rateScale) },
    init(params): OptimizerState {
      const slots: Record<string, ParamSet> = momentum > 0 ? { velocity: mapParams(params, (p) => tf.zerosLike(p)) } : {};
      return { step: 0, slots };
    },
    step(params, grads, state, lr = learningRate): { params: ParamSet; state: OptimizerState } {
      if (fused && fusedUpdateAvailable()) {
        const names = Object.keys(params);
        const out = byScale(names, rateScale, (group, scale) => {
          const list = (set: ParamSet) => group.map((n) => set[n]);
          const r = fusedSgdUpdate(list(params), list(grads), momentum > 0 ? list(state.slots.velocity) : [], { learningRate: lr * scale, momentum });
          return Object.fromEntries(group.map((n, i) => [n, { p: r.p[i], velocity: r.velocity[i] }]));
        });
        const slots: Record<string, ParamSet> = momentum > 0 ? { velocity: paramsFromList(names, names.map((n) => out[n].velocity)) } : {};
        return { params: paramsFromList(names, names.map((n) => out[n].p)), state: { step: state.step + 1, slots } };
      }
      if (momentum === 0) {
        return {
          params: mapParams(params, (p, n) => tf.tidy(() => tf.sub(p, tf.mul(grads[n], scaled(rateScale, lr, n))))),
          state: { step: state.step + 1, slots: {} },
        };
      }
      const velocity = mapParams(params, (_, n) => tf.tidy(() => tf.add(tf.mul(state.slots.velocity[n], momentum), grads[n])));
      return {
        params: mapParams(params, (p, n) => tf.tidy(() => tf.sub(p, tf.mul(velocity[n], scaled(rateScale, lr, n))))),
        state: { step: state.step + 1, slots: { velocity } },
      };
    },
  };
}

export interface AdamOptions {
  learningRate: number;
  /** The Reptile paper uses beta1 = 0. */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Use the fused kernel when possible (default true; false for comparisons). */
  fused?: boolean;
  /** Per-parameter multipliers of the rate (default: none). */
  rateScale?: ParamScales;
}

/**
 * Adam in TensorFlow 1's form (the original Reptile code's optimizer): the bias correction is
 * folded into the step size and epsilon is added to sqrt(v) uncorrected.
 *   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t);  p <- p - lr_t * m / (sqrt(v) + epsilon)
 */
export function adam({ learningRate, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, fused = true, rateScale }: AdamOptions): Optimizer {
  checkRate('learning rate', learningRate, 0, Infinity);
  checkRate('adam beta1', beta1, 0, 1, true);
  checkRate('adam beta2', beta2, 0, 1, true);
  checkRate('adam epsilon', epsilon, 0, Infinity);
  return {
    name: 'adam',
    config: { learningRate, beta1, beta2, epsilon, ...scaleConfig(rateScale) },
    init(params) {
      return { step: 0, slots: { m: mapParams(params, (p) => tf.zerosLike(p)), v: mapParams(params, (p) => tf.zerosLike(p)) } };
    },
    step(params, grads, state, lr = learningRate) {
      const t = state.step + 1;
      const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      if (fused && fusedUpdateAvailable()) {
        const names = Object.keys(params);
        const out = byScale(names, rateScale, (group, scale) => {
          const list = (set: ParamSet) => group.map((n) => set[n]);
          const r = fusedAdamUpdate(list(params), list(grads), list(state.slots.m), list(state.slots.v), { stepSize: stepSize * scale, beta1, beta2, epsilon });
          return Object.fromEntries(group.map((n, i) => [n, { p: r.p[i], m: r.m[i], v: r.v[i] }]));
        });
        const pick = (k: 'p' | 'm' | 'v') => paramsFromList(names, names.map((n) => out[n][k]));
        return { params: pick('p'), state: { step: t, slots: { m: pick('m'), v: pick('v') } } };
      }
      const m = mapParams(params, (_, n) => tf.tidy(() => tf.add(tf.mul(state.slots.m[n], beta1), tf.mul(grads[n], 1 - beta1))));
      const v = mapParams(params, (_, n) => tf.tidy(() => tf.add(tf.mul(state.slots.v[n], beta2), tf.mul(tf.square(grads[n]), 1 - beta2))));
      return {
        params: mapParams(params, (p, n) => tf.tidy(() => tf.sub(p, tf.mul(tf.div(m[n], tf.add(tf.sqrt(v[n]), epsilon)), scaled(rateScale, stepSize, n))))),
        state: { step: t, slots: { m, v } },
      };
    },
  };
}

export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** Builds an optimizer again from its `name` and `config` (e.g. in a worker thread). */
export function optimizerFromConfig(name: string, config: Readonly<Record<string, number | string | boolean>>): Optimizer {
  const num = (key: string) => (typeof config[key] === 'number' ? (config[key] as number) : undefined);
  const rateScale = typeof config.rateScale === 'string' ? parseParamScales(config.rateScale) : undefined;
  switch (name) {
    case 'sgd':
      return sgd({ learningRate: num('learningRate')!, momentum: num('momentum'), rateScale });
    case 'adam':
      return adam({ learningRate: num('learningRate')!, beta1: num('beta1'), beta2: num('beta2'), epsilon: num('epsilon'), rateScale });
    default:
      throw new Error(`unknown optimizer '${name}' (allowed: ${OPTIMIZERS.join(', ')})`);
  }
}
