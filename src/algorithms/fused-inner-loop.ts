/**
 * The inner loop through the fused MLP kernel (src/kernels/fused-mlp.ts) for callers that hold
 * tensors: Reptile's serial loop and test-time adaptation. One host read of the parameters and
 * optimizer state per task, then every step in one call; the results come back as tensors.
 * `fusedInnerLoopFor` returns undefined where the kernel does not apply or is switched off, and
 * callers keep the TensorFlow.js loop (src/algorithms/inner-loop.ts).
 */
import { tf } from '../core/tf.js';
import { paramsFromHost, type HostParams } from '../core/params.js';
import { stateToHostSync } from '../parallel/host-state.js';
import { FusedMlp } from '../kernels/fused-mlp.js';
import type { Model } from '../nn/model.js';
import { isLibraryMlp } from '../nn/mlp.js';
import { lossSpec, type LossFn } from '../nn/losses.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import type { Examples, ExampleLayoutSource } from '../tasks/task.js';
import type { AdaptResult } from './inner-loop.js';

let enabled = true;

/** Switches the fused inner loop on or off for this thread (off: the tfjs loop everywhere; for comparisons). */
export function setFusedInnerLoop(on: boolean): void {
  enabled = on;
}

export function fusedInnerLoopEnabled(): boolean {
  return enabled;
}

const cache = new WeakMap<Model, Map<string, FusedMlp | null>>();

/** The fused loop for this model, loss and optimizer, or undefined (use the tfjs loop). */
export function fusedInnerLoopFor(model: Model, loss: LossFn, optimizer: Pick<Optimizer, 'name' | 'config'>, layout: Pick<ExampleLayoutSource, 'targetShape'>): FusedMlp | undefined {
  // Only the library's own MLPs: a model of the user's may carry an MLP spec yet compute something else.
  if (!enabled || tf.engine().isTapeOn() || !isLibraryMlp(model)) return undefined;
  const spec = lossSpec(loss);
  const targetSize = layout.targetShape.reduce((a, b) => a * b, 1);
  const key = JSON.stringify([spec, optimizer.name, optimizer.config, targetSize]);
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  if (!perModel.has(key)) perModel.set(key, FusedMlp.create(model.spec, spec, optimizer, targetSize) ?? null);
  return perModel.get(key) ?? undefined;
}

/**
 * Adapts `theta` (read with core/params.ts paramsToHostSync, once for all the tasks that start
 * from it) to `examples` with one step per minibatch (example indices), from optimizer state
 * `state` (fresh when undefined). Like inner-loop.ts `adapt`, the result is new tensors.
 */
export function adaptFused(fused: FusedMlp, theta: HostParams, state: OptimizerState | undefined, examples: Examples, batches: readonly (readonly number[])[]): AdaptResult {
  const r = fused.adapt(theta, state ? stateToHostSync(state) : undefined, { count: examples.count, x: examples.x, y: examples.y, batches });
  const slots: OptimizerState['slots'] = {};
  for (const [name, host] of Object.entries(r.state.slots)) slots[name] = paramsFromHost(host);
  return { params: paramsFromHost(r.phi), state: { step: r.state.step, slots }, lossSum: tf.scalar(r.lossSum) };
}
