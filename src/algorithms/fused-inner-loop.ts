/**
 * Where a fused inner loop (src/kernels/fused-mlp.ts for MLPs, in WebAssembly; fused-cnn.ts for
 * the Omniglot CNN, in the native addon or its WebAssembly build) replaces the TensorFlow.js one
 * (src/algorithms/inner-loop.ts): Reptile, FOMAML, the worker pool and test-time adaptation ask
 * `fusedInnerLoopFor`, which returns undefined where no kernel applies or they are switched off,
 * and keep the tfjs loop then.
 */
import { tf } from '../core/tf.js';
import { FusedMlp, fusedMlpSupports } from '../kernels/fused-mlp.js';
import { FusedCnn, fusedCnnSupports } from '../kernels/fused-cnn.js';
import type { FusedLoop } from '../kernels/fused-loop.js';
import { isLibraryConv } from '../nn/conv.js';
import type { Model } from '../nn/model.js';
import { isLibraryMlp } from '../nn/mlp.js';
import { lossSpec, type LossFn } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import type { ExampleLayoutSource } from '../tasks/task.js';

let enabled = true;

/** Switches the fused inner loop on or off for this thread (off: the tfjs loop everywhere; for comparisons). */
export function setFusedInnerLoop(on: boolean): void {
  enabled = on;
}

const cache = new WeakMap<Model, Map<string, FusedLoop>>();

/** The fused loop for this model, loss and optimizer, or undefined (use the tfjs loop). */
export function fusedInnerLoopFor(model: Model, loss: LossFn, optimizer: Pick<Optimizer, 'name' | 'config'>, layout: Pick<ExampleLayoutSource, 'targetShape'>): FusedLoop | undefined {
  // Only the library's own models: a model of the user's may carry a spec yet compute something else.
  if (!enabled || tf.engine().isTapeOn()) return undefined;
  // The kernels take one rate for all parameters.
  if (optimizer.config.rateScale !== undefined) return undefined;
  const spec = lossSpec(loss);
  const targetSize = layout.targetShape.reduce((a, b) => a * b, 1);
  const kernel = isLibraryMlp(model) && fusedMlpSupports(model.spec, spec, optimizer, targetSize) ? FusedMlp
    : isLibraryConv(model) && fusedCnnSupports(model.spec, spec, optimizer, targetSize) ? FusedCnn
    : undefined;
  if (!kernel) return undefined;
  const key = JSON.stringify([spec, optimizer.name, optimizer.config, targetSize]);
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  // Only instances are cached: undefined can mean "not compiled yet" (a browser's main thread).
  let fused = perModel.get(key);
  if (!fused) {
    fused = kernel.create(model.spec, spec, optimizer, targetSize);
    if (fused) perModel.set(key, fused);
  }
  return fused;
}
