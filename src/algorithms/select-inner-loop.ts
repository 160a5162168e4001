/**
 * The one place that chooses how tasks are adapted (core/inner-loop.ts): a fused kernel where one
 * covers the model, loss and optimizer and the caller allows it, else tfjs ops (stacked copies of
 * the model where it can run them). Only the library's own models get a kernel, and converted
 * tfjs-layers models whose layers compute exactly what a kernel computes (nn/kernel-equivalent.ts):
 * a model of the user's may carry a spec yet compute something else. The worker pool (src/parallel/) runs what
 * this chooses in each of its threads.
 */
import { tf } from '../core/tf.js';
import type { FusedKernelName, InnerLoop } from '../core/inner-loop.js';
import { FusedMlp, fusedMlpSupports } from '../kernels/fused-mlp.js';
import { FusedCnn, fusedCnnSupports } from '../kernels/fused-cnn.js';
import { isLibraryConv } from '../nn/conv.js';
import { isLibraryMlp } from '../nn/mlp.js';
import { kernelEquivalent, type KernelSpec } from '../nn/kernel-equivalent.js';
import type { Model } from '../nn/model.js';
import { lossSpec } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import { TfjsLoop, type InnerLoopSetup } from './tfjs-loop.js';
import { StackedLoop } from './stacked-loop.js';

export type { InnerLoopSetup };

/** The fused kernels the factory may choose: all (default), none (tfjs ops only), or a list. */
export type KernelChoice = 'all' | 'none' | readonly FusedKernelName[];

export interface InnerLoopChoice {
  kernels?: KernelChoice;
}

const allows = (kernels: KernelChoice, name: FusedKernelName) => kernels === 'all' || (kernels !== 'none' && kernels.includes(name));

/** The kernel's view of the model (its spec, and its parameter names where they differ from the library's), if any. */
function kernelView(model: Model): { spec: KernelSpec; paramNames?: readonly string[] } | undefined {
  if ((isLibraryMlp(model) || isLibraryConv(model)) && (model.spec?.kind === 'mlp' || model.spec?.kind === 'conv')) return { spec: model.spec };
  return kernelEquivalent(model);
}

/** The fused kernel for this setting, or undefined. */
function fusedLoop(setup: InnerLoopSetup, optimizer: Pick<Optimizer, 'name' | 'config'>, kernels: KernelChoice): InnerLoop | undefined {
  // The kernels take one rate for all parameters.
  if (kernels === 'none' || optimizer.config.rateScale !== undefined) return undefined;
  const view = kernelView(setup.model);
  if (!view) return undefined;
  const spec = lossSpec(setup.loss);
  const targetSize = setup.layout.targetShape.reduce((a, b) => a * b, 1);
  if (allows(kernels, 'fused-mlp') && fusedMlpSupports(view.spec, spec, optimizer, targetSize)) {
    return FusedMlp.create(view.spec, spec, optimizer, targetSize, view.paramNames);
  }
  if (fusedCnnSupports(view.spec, spec, optimizer, targetSize)) {
    const builds = { native: allows(kernels, 'fused-cnn-native'), wasm: allows(kernels, 'fused-cnn-wasm') };
    return builds.native || builds.wasm ? FusedCnn.create(view.spec, spec, optimizer, targetSize, builds, view.paramNames) : undefined;
  }
  return undefined;
}

/** Fused kernels per model: each owns a WebAssembly instance or native memory, worth keeping. */
const fusedCache = new WeakMap<object, Map<string, InnerLoop>>();

function cachedFusedLoop(setup: InnerLoopSetup, optimizer: Optimizer, kernels: KernelChoice): InnerLoop | undefined {
  const key = JSON.stringify([lossSpec(setup.loss), optimizer.name, optimizer.config, setup.layout.targetShape, kernels]);
  let perModel = fusedCache.get(setup.model);
  if (!perModel) fusedCache.set(setup.model, (perModel = new Map()));
  let loop = perModel.get(key);
  if (!loop) {
    loop = fusedLoop(setup, optimizer, kernels);
    // Only kernels are cached: undefined can mean "not compiled yet" (a browser's main thread).
    if (loop) perModel.set(key, loop);
  }
  return loop;
}

/**
 * The inner loop for this model, loss, optimizer and example layout. Under a recording gradient
 * tape it is the tfjs loop, since no kernel is differentiable.
 */
export function selectInnerLoop(setup: InnerLoopSetup, optimizer: Optimizer, { kernels = 'all' }: InnerLoopChoice = {}): InnerLoop {
  const fused = tf.engine().isTapeOn() ? undefined : cachedFusedLoop(setup, optimizer, kernels);
  if (fused) return fused;
  const serial = new TfjsLoop(setup, optimizer);
  return StackedLoop.applies(setup.model) ? new StackedLoop(setup, optimizer, serial) : serial;
}
