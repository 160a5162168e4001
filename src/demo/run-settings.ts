/**
 * The settings of a run (its config.json) that adaptation in the page needs, and the inner
 * optimizer they name: the page adapts with the same optimizer, learning rate, steps and
 * minibatch size as `reptile eval` (browser-safe: no CLI modules).
 */
import { adam, sgd, type Optimizer } from '../nn/optimizers.js';
import type { ParamScales } from '../nn/param-scales.js';
import type { ModelSpec } from '../nn/model.js';
import type { AdaptationOptions } from '../eval/adapt.js';

export interface InnerOptimizerSettings {
  innerOptimizer: 'sgd' | 'adam';
  learningRate: number;
  momentum: number;
  adamBeta1: number;
  adamBeta2: number;
}

export interface RunSettings extends InnerOptimizerSettings {
  benchmark: string;
  algorithm: string;
  classes?: number;
  shots: number;
  evalIters: number;
  evalBatch: number;
  transductive?: boolean;
  seed: number;
  modelSpec?: ModelSpec;
}

/** The inner optimizer (training and evaluation use the same kind and rate). */
export function innerOptimizerOf(settings: InnerOptimizerSettings, rateScale?: ParamScales): Optimizer {
  return settings.innerOptimizer === 'adam'
    ? adam({ learningRate: settings.learningRate, beta1: settings.adamBeta1, beta2: settings.adamBeta2, rateScale })
    : sgd({ learningRate: settings.learningRate, momentum: settings.momentum, rateScale });
}

/** `reptile eval`'s adaptation for this run: its eval iterations, batch, optimizer and protocol. */
export function adaptationOf(settings: RunSettings): AdaptationOptions & { transductive: boolean } {
  for (const key of ['evalIters', 'evalBatch', 'learningRate'] as const) {
    if (typeof settings[key] !== 'number' || !Number.isFinite(settings[key])) throw new Error(`config.json has no valid ${key}`);
  }
  if (settings.innerOptimizer !== 'adam' && settings.innerOptimizer !== 'sgd') throw new Error(`config.json: unknown innerOptimizer '${String(settings.innerOptimizer)}'`);
  return { evalIters: settings.evalIters, evalBatch: settings.evalBatch, optimizer: innerOptimizerOf(settings), transductive: Boolean(settings.transductive) };
}
