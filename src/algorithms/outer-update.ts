/**
 * The outer update every meta-gradient learner shares (Reptile, FOMAML, MAML differ only in the
 * direction u):
 *
 *   theta <- theta + eps * scale(p) * mean_i u_i         (the interpolation; Reptile: u = phi - theta)
 *
 * or a meta-optimizer stepped with the meta-gradient g = -mean_i u_i at the annealed rate eps
 * (plain SGD at rate eps is the interpolation). It runs on the host when the direction came
 * from the host (a fused kernel, the worker pool), else on the device, with the same bits.
 */
import { tf } from '../core/tf.js';
import { disposeParams, mapParams, meanParams, subtract } from '../core/params.js';
import { fastHostAddScaled, fastHostMean, fastHostSubtract } from '../kernels/host-arithmetic.js';
import { ParamStore } from '../core/param-store.js';
import { disposeOptimizerState, type OptimizerState } from '../core/optimizer-state.js';
import type { Optimizer } from '../nn/optimizers.js';
import { scaleFor, type ParamScales } from '../nn/param-scales.js';

export interface OuterUpdateOptions {
  /** Fed -mean(u) with rate eps; the interpolation when omitted. */
  metaOptimizer?: Optimizer;
  /** Per-parameter multipliers of eps (interpolation only). */
  metaStepScale?: ParamScales;
}

/** a - b, on the host when `a` is there (the stores keep both inputs). */
export function difference(a: ParamStore, b: ParamStore): ParamStore {
  return a.onHost ? ParamStore.ofHost(fastHostSubtract(a.host, b.host)) : ParamStore.ofDevice(subtract(a.device, b.device));
}

/** The element-wise mean, summed in list order then divided, on the host when every input is there. */
export function meanOf(stores: readonly ParamStore[]): ParamStore {
  if (stores.every((s) => s.onHost)) return ParamStore.ofHost(fastHostMean(stores.map((s) => s.host)));
  return ParamStore.ofDevice(meanParams(stores.map((s) => s.device)));
}

/**
 * Moves `theta` by `direction` with step size `eps`; returns the meta-optimizer's new state
 * (`metaState` is disposed), undefined for the interpolation.
 */
export function applyOuterUpdate(theta: ParamStore, direction: ParamStore, eps: number, options: OuterUpdateOptions, metaState: OptimizerState | undefined): OptimizerState | undefined {
  const { metaOptimizer, metaStepScale } = options;
  const rate = (name: string) => (metaStepScale ? eps * scaleFor(metaStepScale, name) : eps);
  if (!metaOptimizer) {
    if (direction.onHost) theta.setHost(fastHostAddScaled(theta.host, direction.host, rate));
    else theta.setDevice(mapParams(theta.device, (p, n) => tf.tidy(() => tf.add(p, tf.mul(direction.device[n], rate(n))))));
    return undefined;
  }
  const g = mapParams(direction.device, (u) => tf.neg(u));
  const next = metaOptimizer.step(theta.device, g, metaState!, eps);
  disposeParams(g);
  disposeOptimizerState(metaState);
  theta.setDevice(next.params);
  return next.state;
}
