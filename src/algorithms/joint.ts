/**
 * Joint training, the baseline Reptile is compared with: plain training of one set of weights
 * on examples of random tasks, with the same number of gradient steps as Reptile takes
 * (meta-iterations x meta-batch x inner steps), then the same adaptation at evaluation. Each
 * step sees a minibatch from a freshly sampled task, so it minimises the expected loss over
 * tasks (what Reptile reduces to with one inner step).
 */
import { tf } from '../core/tf.js';
import { cloneParams, type ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import { minibatchIndices, type Examples } from '../tasks/task.js';
import { disposeBatch, toBatch, trainStep } from './inner-loop.js';
import type { MetaLearner, MetaLearnerSetup } from './meta-learner.js';
import { fusedInnerLoopFor } from './fused-inner-loop.js';
import { ParamStore, StateStore } from './param-store.js';

export interface JointTrainingOptions {
  /** Gradient steps per meta-iteration (Reptile's metaBatch x innerIters, for an equal budget). */
  stepsPerIteration: number;
  batchSize: number;
  optimizer: Optimizer;
}

export class JointTraining implements MetaLearner {
  readonly algorithm = 'joint';
  readonly model;
  readonly loss;
  readonly tasksPerIteration: number;
  /** Tensors, or host arrays while the fused MLP loop trains them (param-store.ts). */
  private readonly theta: ParamStore;
  private readonly state = new StateStore();

  constructor(private readonly setup: MetaLearnerSetup, initialParams: ParamSet, private readonly options: JointTrainingOptions) {
    this.model = setup.model;
    this.loss = setup.loss;
    this.tasksPerIteration = options.stepsPerIteration;
    this.theta = new ParamStore(cloneParams(initialParams));
    this.state.setDevice(options.optimizer.init(this.theta.device));
  }

  get params(): ParamSet {
    return this.theta.device;
  }

  setParams(params: ParamSet): void {
    this.theta.setDevice(params);
  }

  /** One step per task; the step size of the schedule does not apply (the optimizer's rate does). */
  metaStep(tasks: readonly Examples[], _metaStepSize: number, rng: Rng): tf.Scalar {
    const fused = fusedInnerLoopFor(this.model, this.loss, this.options.optimizer, this.setup.layout);
    if (fused) {
      let sum = 0;
      for (const task of tasks) {
        const batches = minibatchIndices(task.count, this.options.batchSize, 1, rng);
        const r = fused.adapt(this.theta.host, this.state.host, { ...task, batches });
        this.theta.setHost(r.phi);
        this.state.setHost(r.state);
        sum += r.lossSum;
      }
      return tf.scalar(sum / tasks.length);
    }
    let lossSum = tf.scalar(0);
    for (const task of tasks) {
      const [indices] = minibatchIndices(task.count, this.options.batchSize, 1, rng);
      const batch = toBatch(this.setup.layout, task, indices);
      const step = trainStep(this.model, this.loss, this.options.optimizer, this.theta.device, this.state.device!, batch);
      disposeBatch(batch);
      this.setParams(step.params);
      this.state.setDevice(step.state);
      const total = tf.add(lossSum, step.loss) as tf.Scalar;
      lossSum.dispose();
      step.loss.dispose();
      lossSum = total;
    }
    const mean = tf.div(lossSum, tasks.length) as tf.Scalar;
    lossSum.dispose();
    return mean;
  }

  optimizerStates(): Record<string, OptimizerState | undefined> {
    return { inner: this.state.device };
  }

  restoreOptimizerStates(states: Record<string, OptimizerState | undefined>): void {
    if (states.inner) this.state.setDevice(states.inner);
  }

  dispose(): void {
    this.theta.dispose();
    this.state.dispose();
  }
}
