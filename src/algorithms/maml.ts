/**
 * MAML (Finn, Abbeel & Levine 2017) with the exact, second-order meta-gradient:
 *
 *   phi_0 = theta;  phi_j = phi_{j-1} - lr * grad L_j(phi_{j-1})   for the k - 1 adaptation minibatches
 *   g = d L_k(phi_{k-1}) / d theta = prod_j (I - lr H_j(phi_{j-1})) grad L_k(phi_{k-1})
 *
 * computed by differentiating through the inner SGD steps (tf.grads inside tf.grads: the inner
 * gradients' own ops are taped and differentiated again). The task's update is u = -lr * g, so
 * MAML's outer step has the same scale as FOMAML's (whose u = -lr * grad L_k(phi_{k-1})) and
 * Reptile's, and the same --meta-step schedules apply; FOMAML is this with the Hessian terms dropped.
 *
 * Inner optimizer: SGD (plain or with momentum, fresh state per task), as in the MAML paper.
 * Adam's update divides by sqrt(v), whose derivative is unbounded where a gradient is zero
 * (batch norm makes the conv biases' gradients exactly that), so it is not offered.
 *
 * Every op on the path must have a gradient that is itself differentiable: the losses
 * (nn/losses.ts), tanh (nn/ops.ts), relu, matMul, and, for the CNNs, the gradients registered in
 * nn/second-order.ts. The memory held for the backward pass grows linearly with k (every inner
 * step's activations and gradients stay alive until the meta-gradient is computed).
 */
import { tf, tidy } from '../core/tf.js';
import { disposeParams, mapParams, meanParams, paramNames, paramsFromList, paramsToList, type ParamSet } from '../core/params.js';
import { ParamStore } from '../core/param-store.js';
import type { Rng } from '../core/rng.js';
import type { Examples } from '../tasks/task.js';
import type { Model } from '../nn/model.js';
import type { LossFn } from '../nn/losses.js';
import type { Optimizer } from '../nn/optimizers.js';
import { registerSecondOrderGradients } from '../nn/second-order.js';
import { disposeBatch, toBatch, type Batch } from './inner-loop.js';
import { MetaGradientLearner, type MeanUpdate, type MetaGradientOptions } from './meta-gradient-learner.js';
import { taskBatchIndices } from './task-batches.js';
import type { MetaLearnerSetup } from './meta-learner.js';

/** The identity, with a zero gradient: what "first-order" treats the inner gradients as. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: () => tf.zerosLike(x),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

export interface MetaGradientResult {
  /** L_k(phi_{k-1}): the final minibatch's loss after adaptation. */
  metaLoss: tf.Scalar;
  /** Its gradient with respect to theta. */
  grads: ParamSet;
  /** Sum of the adaptation minibatches' losses (each at the weights it was taken from). */
  adaptationLossSum: tf.Scalar;
}

export interface MetaGradientFlags {
  /** Treat the inner gradients as constants (the first-order approximation): grad L_k(phi_{k-1}). */
  firstOrder?: boolean;
}

/**
 * The MAML meta-gradient of one task: k - 1 differentiable steps of `optimizer` (SGD) on
 * `adaptation`, then the loss on `final`, differentiated with respect to `theta`.
 */
export function mamlMetaGradient(
  model: Model,
  loss: LossFn,
  optimizer: Optimizer,
  theta: ParamSet,
  adaptation: readonly Batch[],
  final: Batch,
  { firstOrder = false }: MetaGradientFlags = {},
): MetaGradientResult {
  if (optimizer.name !== 'sgd') throw new RangeError(`MAML differentiates through SGD steps; got the ${optimizer.name} optimizer`);
  if (!firstOrder) refuseUnsupportedSecondOrder(model);
  registerSecondOrderGradients();
  return tidy(() => {
    const names = paramNames(theta);
    const lossAt = (batch: Batch) => (...list: tf.Tensor[]) => loss(model.apply(paramsFromList(names, list), batch.x, { training: true }), batch.y);
    // Losses of the adaptation steps, kept out of the tape's disposal to be reported.
    const innerLosses: tf.Scalar[] = [];
    const metaLoss = (...list: tf.Tensor[]) => {
      let params = paramsFromList(names, list);
      let state = optimizer.init(params);
      for (const batch of adaptation) {
        const { value, grads } = tf.valueAndGrads(lossAt(batch))(paramsToList(params));
        innerLosses.push(tf.keep(value) as tf.Scalar);
        const g = firstOrder ? grads.map((t) => stopGradient(t)) : grads;
        const next = optimizer.step(params, paramsFromList(names, g), state);
        params = next.params;
        state = next.state;
      }
      return lossAt(final)(...paramsToList(params));
    };
    const { value, grads } = tf.valueAndGrads(metaLoss)(paramsToList(theta));
    const adaptationLossSum = (innerLosses.length > 0 ? tf.addN(innerLosses) : tf.scalar(0)) as tf.Scalar;
    innerLosses.forEach((l) => l.dispose());
    return { metaLoss: value as tf.Scalar, grads: paramsFromList(names, grads), adaptationLossSum };
  });
}

/** Second-order MAML on a model whose second derivatives tfjs gets wrong would return a wrong meta-gradient: refuse it. */
function refuseUnsupportedSecondOrder(model: Model): void {
  if (model.secondOrderUnsupported) {
    throw new Error(`second-order MAML cannot differentiate this model exactly: ${model.secondOrderUnsupported}; use FOMAML or Reptile, or change the layer`);
  }
}

export class Maml extends MetaGradientLearner {
  readonly algorithm: string = 'maml';
  protected override readonly keepsInnerState = false;
  private readonly learningRate: number;

  constructor(setup: MetaLearnerSetup, initialParams: ParamSet, options: MetaGradientOptions) {
    if (options.innerOptimizer.name !== 'sgd') throw new RangeError(`MAML's inner optimizer must be sgd, got ${options.innerOptimizer.name}`);
    refuseUnsupportedSecondOrder(setup.model);
    super(setup, initialParams, options);
    this.learningRate = Number(options.innerOptimizer.config.learningRate);
  }

  /** MAML's own differentiable loop per task (it records a tape, so no other inner loop applies). */
  protected async meanUpdate(tasks: readonly Examples[], rng: Rng): Promise<MeanUpdate> {
    const { innerBatch, innerIters, tailShots = 0, innerOptimizer } = this.options;
    const updates: ParamSet[] = [];
    const losses: tf.Scalar[] = [];
    for (const task of tasks) {
      const indices = taskBatchIndices(this.setup.layout, task, innerBatch, innerIters, tailShots, rng);
      const adaptation = indices.adaptation.map((idx) => toBatch(this.setup.layout, task, idx));
      const final = toBatch(this.setup.layout, task, indices.final);
      const r = mamlMetaGradient(this.model, this.loss, innerOptimizer, this.theta.device, adaptation, final);
      adaptation.forEach(disposeBatch);
      disposeBatch(final);
      updates.push(mapParams(r.grads, (g) => tf.mul(g, -this.learningRate)));
      disposeParams(r.grads);
      losses.push(tf.add(r.adaptationLossSum, r.metaLoss) as tf.Scalar);
      r.adaptationLossSum.dispose();
      r.metaLoss.dispose();
    }
    const direction = ParamStore.ofDevice(meanParams(updates));
    updates.forEach(disposeParams);
    const total = tf.addN(losses);
    const lossSum = (await total.data())[0];
    total.dispose();
    losses.forEach((l) => l.dispose());
    return { direction, lossSum };
  }
}
