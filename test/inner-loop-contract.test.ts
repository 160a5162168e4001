/**
 * The inner-loop contract (src/core/inner-loop.ts), one suite for every implementation: each
 * runs the same cases and must give what TfjsLoop (the reference) gives, to a stated tolerance,
 * and bitwise what it is a replica of.
 *
 * - Implementations (IN_THREAD, POOL_BASES): TfjsLoop; StackedLoop; the fused MLP; the fused
 *   CNN's native build at every instruction-set level this CPU runs, and its wasm build (all but
 *   TfjsLoop through the factory, selectInnerLoop); and
 *   AdaptPool over each loop its threads can run: the factory's tfjs choice for an MLP (stacked),
 *   the fused MLP, both fused CNN builds (native at its best level), and tfjs for a CNN (one setting), each with 2 threads in
 *   half the settings and 3 in the others (Setting.poolThreads).
 * - Cases (SETTINGS x plans x mode x keep x start): SGD, momentum SGD 0.9, Adam with beta1 0 and
 *   0.9, each on an MLP (7-5-3 or 13-11-4: not multiples of the SIMD width; relu or tanh;
 *   cross-entropy mean or sum, squared error mean or sum) and on the paper's CNN (small inputs,
 *   16 filters, 3 classes), the Mini-ImageNet CNN (max-pool; 12x10x3, 16 filters, Adam) and a
 *   converted CNN of the kernel's block family (3 blocks: stride 1; stride 2; stride 1 with a
 *   max-pool; 11x8x3 with short last pool windows, 16 filters, momentum SGD); four tasks, one task of batch 1, three tasks of 2, 0 and 3 steps;
 *   modes 'chain', 'common', 'fresh'; keep 'mean' and 'each'; no start state, or a persisted one
 *   (the end state of an earlier call: Adam's step count and slots matter).
 * - Each test: the implementation's result against the reference's (the mean or each task's
 *   parameters, each task's end state, the end state's step and slots, lossSum); the same call
 *   again, with the inputs in device form instead of host form, bitwise the same; the inputs'
 *   values unchanged by either call. A pool also gives bitwise what its thread's loop gives here.
 * - Then: the mode semantics on TfjsLoop, by hand on a one-weight model and by relations between
 *   calls; no tensor leak over many calls of TfjsLoop and StackedLoop; which modes return each
 *   task's end state.
 *
 * Tolerances. Against TfjsLoop, each value must be within rtol (|reference| + S), S the largest
 * magnitude in the same parameter set or slot (values near zero are held to their set's scale,
 * not to 1 nor to themselves), and lossSum within lossRtol relative. Float32's unit roundoff is
 * 2^-24 = 6e-8; "measured" is the worst case of this suite's run (the diagnostics print it).
 * - StackedLoop 1e-6 (values and lossSum). It runs each task's own tfjs ops batched over T copies
 *   and takes one loss over all T x batch examples (times T for a mean), which rounds lossSum
 *   differently. Measured: values bitwise, lossSum 2.1e-7.
 * - Fused MLP 3e-5, lossSum 2e-6. Float32 in another order of additions (and the mean in the
 *   kernel): each gradient differs by some ulps times the fan-in (<= 13), the steps compound it,
 *   and Adam's v, a sum of squared gradients, carries twice the gradient's relative error (m and
 *   the step m / sqrt(v) about once). Measured: 6.7e-6 (Adam's v), lossSum 1.4e-7.
 * - Fused CNN, native (baseline: 4-wide, no FMA; avx2: 8-wide, FMA; avx512: 16-wide, FMA) and wasm
 *   (4-wide, no FMA): 1e-4, lossSum 1e-5. Sums of
 *   9 x 16 terms per conv output, batch norm over batch x H x W, and its division by the batch's
 *   standard deviation, which amplifies differences. Measured: 1.6e-5, lossSum 8.4e-7.
 *   Except, under Adam, the conv biases: batch norm subtracts the channel mean right after them, so
 *   their true gradient is 0 and the computed one is rounding noise, different in every
 *   implementation, which Adam divides by its own root mean square: a move of up to ~lr per step
 *   in a direction that is noise (src/kernels/fused-cnn.ts says the same; no output depends on
 *   these biases). They are held to a loose bound instead: within twice the most Adam can move any
 *   parameter in the task's steps (adamTravel), which still fails a bias that is NaN, runs away, or
 *   moves at the wrong rate. Their slots need no exception: noise is tiny on the slots' scale.
 * - Replicas (a pool vs its thread's loop here; the same call twice): parameters, states and step
 *   counts bitwise; the same call twice also lossSum bitwise. A pool's lossSum adds its threads'
 *   partial sums, so its last bits may differ from one thread's (measured: 2.1e-7 for tfjs's
 *   float32 sums, 1 float64 ulp for the kernels'): within REPLICA_LOSS_RTOL, here and against
 *   TfjsLoop (src/parallel/worker-pool.ts promises bits for parameters and states only).
 *
 * Batch norm on few values: after the CNN's last block, an input of H x W leaves
 * ceil(ceil(ceil(ceil(H/2)/2)/2)/2) rows. Where that is 1 x 1, batch norm normalises batch-many
 * values per channel: with one example, to exactly beta (everything before it gets a zero
 * gradient, i.e. rounding noise); with three, the previous block's batch norm beta gets a zero
 * gradient wherever its ReLU is on, and small differences jump (measured: 1e-2 after 16 chained
 * momentum steps, the two kernel builds on one side and tfjs on the other). So only plain SGD
 * runs on such an input (9 x 9); the others have 2 x 2 after the last block (17 x 17, 20 x 17).
 *
 * Runs on the wasm backend (the default, and what the pool's threads run). The native addon's
 * cases are skipped where it is not built, unless REPTILE_REQUIRE_NATIVE=1 makes that a failure
 * (test/support/native-levels.ts); each runs after switching the addon to its level.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsToHostSync, type HostParams } from '../src/core/params.js';
import type { HostOptimizerState } from '../src/core/optimizer-state.js';
import type { AdaptJob, InnerLoop, InnerLoopName, InnerStateMode } from '../src/core/inner-loop.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { fromLayersModel } from '../src/nn/from-layers-model.js';
import { crossEntropy, lossSpec, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, sgd, type Optimizer } from '../src/nn/optimizers.js';
import type { Model } from '../src/nn/model.js';
import type { ExampleLayoutSource } from '../src/tasks/task.js';
import { TfjsLoop } from '../src/algorithms/tfjs-loop.js';
import { selectInnerLoop, type InnerLoopSetup, type KernelChoice } from '../src/algorithms/select-inner-loop.js';
import { AdaptPool } from '../src/parallel/worker-pool.js';
import type { CpuLevel } from '../src/kernels/fused-native.js';
import { nativeLevels, runNativeAt } from './support/native-levels.js';
import {
  adamTravel, assertOutcomesBitwise, assertOutcomesClose, assertParamsBitwise, assertStateBitwise,
  firstSteps, inputStores, makeJobs, settle, type JobPlan, type LooseBounds, type Outcome, type Tolerance,
} from './support/contract-cases.js';

await useBackend('wasm');

// =============================================================================================
// Implementations

type Family = 'mlp' | 'cnn';

interface InThread {
  label: string;
  families: readonly Family[];
  /** The loop, built as callers get it; its name must be `expect`. */
  build(setup: InnerLoopSetup, optimizer: Optimizer): InnerLoop;
  expect: InnerLoopName;
  /** The factory's kernels when this loop runs in a pool's threads. */
  poolKernels: KernelChoice;
  tolerance: Tolerance;
  /** Whether Adam's conv biases are held to the loose bound instead (see the header). */
  noisyConvBias: boolean;
  skip: string | false;
  /** The native addon's instruction-set level this loop runs at (the addon switches to it first). */
  level?: CpuLevel;
}

interface Pooled {
  label: string;
  base: InThread;
  threads: number;
}

type Implementation = InThread | Pooled;
const isPooled = (impl: Implementation): impl is Pooled => 'base' in impl;
const baseOf = (impl: Implementation): InThread => (isPooled(impl) ? impl.base : impl);
/** Against TfjsLoop: the thread's loop's tolerance, and a pool's lossSum adds partial sums (REPLICA_LOSS_RTOL). */
const toleranceOf = (impl: Implementation): Tolerance => {
  const { rtol, lossRtol } = baseOf(impl).tolerance;
  return isPooled(impl) ? { rtol, lossRtol: Math.max(lossRtol, REPLICA_LOSS_RTOL) } : { rtol, lossRtol };
};

const factory = (kernels: KernelChoice) => (setup: InnerLoopSetup, optimizer: Optimizer) => selectInnerLoop(setup, optimizer, { kernels });

const FUSED_CNN: Tolerance = { rtol: 1e-4, lossRtol: 1e-5 };
/** A pool's lossSum against its thread's loop here: float32 sums of a dozen step losses, regrouped, differ by a few ulps (2^-24 each); measured 2e-7. */
const REPLICA_LOSS_RTOL = 1e-6;

const TFJS: InThread = { label: 'TfjsLoop', families: ['mlp', 'cnn'], build: (s, o) => new TfjsLoop(s, o), expect: 'tfjs', poolKernels: 'none', tolerance: { rtol: 0, lossRtol: 0 }, noisyConvBias: false, skip: false };
const STACKED: InThread = { label: 'StackedLoop', families: ['mlp'], build: factory('none'), expect: 'tfjs-stacked', poolKernels: 'none', tolerance: { rtol: 1e-6, lossRtol: 1e-6 }, noisyConvBias: false, skip: false };
const FUSED_MLP: InThread = { label: 'FusedMlp', families: ['mlp'], build: factory(['fused-mlp']), expect: 'fused-mlp', poolKernels: ['fused-mlp'], tolerance: { rtol: 3e-5, lossRtol: 2e-6 }, noisyConvBias: false, skip: false };
/** The native CNN at each level this CPU runs, worst first (one skipped entry where the addon is not built). */
const CNN_NATIVE_LEVELS: InThread[] = nativeLevels().map(({ level, label, skip }) => ({
  label: `FusedCnn ${label}`, families: ['cnn'], build: factory(['fused-cnn-native']), expect: 'fused-cnn-native', poolKernels: ['fused-cnn-native'], tolerance: FUSED_CNN, noisyConvBias: true, skip, level,
}));
/** A pool's threads run the best level (the process's level applies in every thread). */
const CNN_NATIVE = CNN_NATIVE_LEVELS[CNN_NATIVE_LEVELS.length - 1];
const CNN_WASM: InThread = { label: 'FusedCnn wasm', families: ['cnn'], build: factory(['fused-cnn-wasm']), expect: 'fused-cnn-wasm', poolKernels: ['fused-cnn-wasm'], tolerance: FUSED_CNN, noisyConvBias: true, skip: false };
const IN_THREAD = [TFJS, STACKED, FUSED_MLP, ...CNN_NATIVE_LEVELS, CNN_WASM];

/**
 * What a pool's threads run. A tfjs CNN call costs ~50 ms (a kernel's ~1 ms) and each pool test
 * makes two: the tfjs CNN runs on threads in one setting only.
 */
const POOL_BASES: { base: InThread; family: Family; only?: (s: Setting) => boolean }[] = [
  { base: STACKED, family: 'mlp' },
  { base: FUSED_MLP, family: 'mlp' },
  { base: CNN_NATIVE, family: 'cnn' },
  { base: CNN_WASM, family: 'cnn' },
  { base: TFJS, family: 'cnn', only: (s) => s.optimizer.name === 'sgd' && !s.optimizer.config.momentum },
];

/** The in-thread loops of the setting's family, and a pool of `setting.poolThreads` threads over each pool base. */
function implementationsFor(setting: Setting): Implementation[] {
  const threads = setting.poolThreads;
  const bases = POOL_BASES.filter((p) => p.family === setting.family && (p.only?.(setting) ?? true));
  const pooled = bases.map(({ base }): Pooled => ({ label: `AdaptPool(${threads} threads) of ${base.label}`, base, threads }));
  return [...IN_THREAD.filter((i) => i.families.includes(setting.family)), ...pooled];
}

// =============================================================================================
// Cases

interface Setting {
  name: string;
  family: Family;
  model: Model;
  loss: LossFn;
  optimizer: Optimizer;
  layout: ExampleLayoutSource;
  /** The plan with one task (batch 1, or 3 where batch 1 is degenerate: see the header). */
  oneTask: JobPlan;
  /**
   * The pools' size. A worker thread costs ~0.4 s of CPU to start (its own TensorFlow.js), and
   * each setting needs its own pools: the sizes alternate so that every pool base runs with 2
   * and with 3 threads, each size with SGD or momentum SGD and with Adam.
   */
  poolThreads: 2 | 3;
}

const FOUR_TASKS: JobPlan = { name: '4 tasks x 3 steps of 3', steps: [3, 3, 3, 3], batch: 3 };
const ONE_TASK_BATCH_1: JobPlan = { name: '1 task x 4 steps of 1 example', steps: [4], batch: 1 };
const ONE_TASK_BATCH_3: JobPlan = { name: '1 task x 4 steps of 3', steps: [4], batch: 3 };
/** A task with no minibatch, and tasks of unequal step counts ('common' mode's end state then is the mean of unequal states). */
const UNEVEN: JobPlan = { name: '3 tasks of 2, 0 and 3 steps of 3', steps: [2, 0, 3], batch: 3 };

const classifier = (sizes: number[]): Pick<Setting, 'model' | 'layout'> => ({ model: mlp(sizes), layout: { kind: 'classification', inputShape: [sizes[0]], targetShape: [] } });
const regressor = (sizes: number[]): Pick<Setting, 'model' | 'layout'> => ({ model: mlp(sizes, { activation: 'tanh' }), layout: { kind: 'regression', inputShape: [sizes[0]], targetShape: [sizes[sizes.length - 1]] } });
const cnn = (inputShape: number[]): Pick<Setting, 'model' | 'layout'> => ({ model: conv({ variant: 'omniglot', classes: 3, inputShape, filters: 16 }), layout: { kind: 'classification', inputShape, targetShape: [] } });

/** A user's CNN of the fused kernel's block family, converted: 3 x [conv 3x3 same (strides 1, 2, 1), batch norm, relu], the last max-pooled 2x2. */
function userBlocksCnn(inputShape: number[]): Pick<Setting, 'model' | 'layout'> {
  const net = tf.sequential();
  [1, 2, 1].forEach((strides, l) => {
    net.add(tf.layers.conv2d({ name: `conv${l}`, filters: 16, kernelSize: 3, strides, padding: 'same', ...(l === 0 ? { inputShape } : {}) }));
    net.add(tf.layers.batchNormalization({ name: `bn${l}`, epsilon: 1e-3 }));
    if (l === 2) net.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }));
    net.add(tf.layers.activation({ activation: 'relu' }));
  });
  net.add(tf.layers.flatten());
  net.add(tf.layers.dense({ name: 'dense', units: 3 }));
  const model = fromLayersModel(net, { reinit: true });
  net.dispose();
  return { model, layout: { kind: 'classification', inputShape, targetShape: [] } };
}

const SETTINGS: Setting[] = [
  { name: 'MLP 7-5-3 relu, cross-entropy mean, SGD', family: 'mlp', ...classifier([7, 5, 3]), loss: crossEntropy(), optimizer: sgd({ learningRate: 0.1 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 2 },
  { name: 'MLP 13-11-4 tanh, squared error sum, momentum SGD 0.9', family: 'mlp', ...regressor([13, 11, 4]), loss: meanSquaredError('sum'), optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 3 },
  { name: 'MLP 7-5-3 relu, cross-entropy sum, Adam beta1 0', family: 'mlp', ...classifier([7, 5, 3]), loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.01, beta1: 0 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 2 },
  { name: 'MLP 13-11-4 tanh, squared error mean, Adam beta1 0.9', family: 'mlp', ...regressor([13, 11, 4]), loss: meanSquaredError(), optimizer: adam({ learningRate: 0.01 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 3 },
  { name: 'CNN 9x9x1 16 filters 3-way, cross-entropy mean, SGD', family: 'cnn', ...cnn([9, 9, 1]), loss: crossEntropy(), optimizer: sgd({ learningRate: 0.05 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 3 },
  { name: 'CNN 17x17x1 16 filters 3-way, cross-entropy sum, momentum SGD 0.9', family: 'cnn', ...cnn([17, 17, 1]), loss: crossEntropy('sum'), optimizer: sgd({ learningRate: 0.005, momentum: 0.9 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 2 },
  { name: 'CNN 17x17x1 16 filters 3-way, cross-entropy mean, Adam beta1 0', family: 'cnn', ...cnn([17, 17, 1]), loss: crossEntropy(), optimizer: adam({ learningRate: 0.003, beta1: 0 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 3 },
  { name: 'CNN 20x17x1 16 filters 3-way, cross-entropy sum, Adam beta1 0.9', family: 'cnn', ...cnn([20, 17, 1]), loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.003 }), oneTask: ONE_TASK_BATCH_3, poolThreads: 2 },
  { name: 'Mini-ImageNet CNN (max-pool) 12x10x3 16 filters 3-way, cross-entropy mean, Adam beta1 0', family: 'cnn', model: conv({ variant: 'miniimagenet', classes: 3, inputShape: [12, 10, 3], filters: 16 }), layout: { kind: 'classification', inputShape: [12, 10, 3], targetShape: [] }, loss: crossEntropy(), optimizer: adam({ learningRate: 0.003, beta1: 0 }), oneTask: ONE_TASK_BATCH_3, poolThreads: 3 },
  { name: 'converted CNN, 3 blocks (stride 1, 2, 1 + max-pool) 11x8x3 16 filters 3-way, cross-entropy sum, momentum SGD 0.9', family: 'cnn', ...userBlocksCnn([11, 8, 3]), loss: crossEntropy('sum'), optimizer: sgd({ learningRate: 0.005, momentum: 0.9 }), oneTask: ONE_TASK_BATCH_1, poolThreads: 2 },
];

interface Case {
  name: string;
  plan: JobPlan;
  mode: InnerStateMode;
  keep: 'mean' | 'each';
  /** Whether the call gets a persisted start state (else undefined: a fresh one). */
  persisted: boolean;
}

const MODES: InnerStateMode[] = ['chain', 'common', 'fresh'];

/**
 * Every plan in every mode and keep from a persisted start state; the four-task plan also from
 * none ('fresh' ignores the state it is given, so only the persisted one: it must be ignored).
 */
function casesOf(setting: Setting): Case[] {
  return [FOUR_TASKS, setting.oneTask, UNEVEN].flatMap((plan) =>
    MODES.flatMap((mode) =>
      (['mean', 'each'] as const).flatMap((keep) =>
        (plan === FOUR_TASKS && mode !== 'fresh' ? [false, true] : [true]).map((persisted) => ({
          name: `${plan.name}, mode ${mode}, keep ${keep}, ${persisted ? 'persisted' : 'no'} start state`, plan, mode, keep, persisted,
        })),
      ),
    ),
  );
}

// =============================================================================================
// One setting's theta, start state, loops, pools and results

/** The seed of every case's jobs (fresh buffers every call: the pool detaches what it sends). */
const JOB_SEED = 7;

class Bench {
  /** Never handed to a loop: the loops get copies, checked against these afterwards. */
  readonly theta: HostParams;
  private start: HostOptimizerState | undefined;
  private readonly loops = new Map<InThread, InnerLoop>();
  private readonly pools = new Map<string, Promise<AdaptPool>>();
  /** The first outcome of an in-thread loop on a case: TfjsLoop's is the reference, the others' what pools replicate. */
  private readonly outcomes = new Map<string, Outcome>();

  constructor(readonly setting: Setting) {
    const init = setting.model.init(Rng.fromSeed(11));
    this.theta = paramsToHostSync(init);
    disposeParams(init);
  }

  jobs(plan: JobPlan, seed = JOB_SEED): AdaptJob[] {
    return makeJobs(this.setting.layout, this.setting.model.outputSize, plan, seed);
  }

  /** The persisted start state: TfjsLoop's end state after two chained tasks of 2 steps. */
  async persisted(): Promise<HostOptimizerState> {
    if (!this.start) this.start = (await this.call(TFJS, undefined, this.jobs({ name: 'warm-up', steps: [2, 2], batch: 3 }, 99), 'chain', 'mean')).state!;
    return this.start;
  }

  /** One call of an in-thread loop from this theta, with no check (for the semantics tests). */
  async call(impl: InThread, state: HostOptimizerState | undefined, jobs: AdaptJob[], mode: InnerStateMode, keep: 'mean' | 'each'): Promise<Outcome> {
    const inputs = inputStores(this.theta, state, 'host');
    try {
      return settle(await this.loop(impl).adaptTasks(inputs.theta, inputs.state, jobs, { mode, keep }));
    } finally {
      inputs.theta.dispose();
      inputs.state?.dispose();
    }
  }

  loop(impl: InThread): InnerLoop {
    let loop = this.loops.get(impl);
    if (!loop) {
      const { model, loss, optimizer, layout } = this.setting;
      loop = impl.build({ model, loss, layout }, optimizer);
      assert.equal(loop.name, impl.expect, `${impl.label}: the factory chose ${loop.name}`);
      this.loops.set(impl, loop);
    }
    return loop;
  }

  /** A pool of `impl.threads` threads running the factory's choice for `impl.base`'s kernels. */
  async pool(impl: Pooled): Promise<AdaptPool> {
    let pool = this.pools.get(impl.label);
    if (!pool) {
      const { model, loss, optimizer, layout } = this.setting;
      pool = AdaptPool.start(impl.threads, { backend: 'wasm', model: model.spec!, loss: lossSpec(loss)!, optimizer: { name: optimizer.name, config: optimizer.config }, layout, kernels: impl.base.poolKernels });
      this.pools.set(impl.label, pool);
    }
    const started = await pool;
    assert.equal(started.name, impl.base.expect, 'the loop the pool runs');
    assert.equal(started.size, impl.threads);
    return started;
  }

  async close(): Promise<void> {
    const pools = await Promise.allSettled(this.pools.values());
    await Promise.all(pools.map((p) => (p.status === 'fulfilled' ? p.value.close() : undefined)));
  }

  /** One call on case `c` with the inputs in `form`; the inputs' values must be unchanged after it. */
  async run(loop: InnerLoop, c: Case, form: 'host' | 'device'): Promise<Outcome> {
    const start = c.persisted ? await this.persisted() : undefined;
    const inputs = inputStores(this.theta, start, form);
    try {
      return settle(await loop.adaptTasks(inputs.theta, inputs.state, this.jobs(c.plan), { mode: c.mode, keep: c.keep }));
    } finally {
      assertParamsBitwise(inputs.theta.host, this.theta, `theta (${form} form) after the call`);
      if (start) assertStateBitwise(inputs.state!.host, start, `the start state (${form} form) after the call`);
      inputs.theta.dispose();
      inputs.state?.dispose();
    }
  }

  /** The first outcome of an in-thread loop on a case (computed once). */
  async outcome(impl: InThread, c: Case): Promise<Outcome> {
    const key = `${impl.label}|${c.name}`;
    let o = this.outcomes.get(key);
    if (!o) this.outcomes.set(key, (o = await this.run(this.loop(impl), c, 'host')));
    return o;
  }

  /** The loose bound on Adam's conv biases for this case (see the header), or none. */
  async looseBounds(impl: Implementation, c: Case): Promise<LooseBounds | undefined> {
    const { optimizer } = this.setting;
    if (!baseOf(impl).noisyConvBias || optimizer.name !== 'adam') return undefined;
    const config = optimizer.config as { learningRate: number; beta1: number; beta2: number };
    const firsts = firstSteps(c.mode, c.persisted ? (await this.persisted()).step : 0, c.plan.steps);
    const travel = Math.max(...c.plan.steps.map((k, j) => adamTravel(config, firsts[j], k)));
    return (name) => (/^conv\d+\/bias$/.test(name) ? 2 * travel : undefined);
  }
}

// =============================================================================================
// The contract: every implementation on every case of its family

for (const setting of SETTINGS) {
  describe(setting.name, () => {
    let bench: Bench | undefined;
    const benchOf = () => (bench ??= new Bench(setting));
    after(() => bench?.close());

    for (const c of casesOf(setting)) {
      for (const impl of implementationsFor(setting)) {
        test(`${impl.label}: ${c.name}`, { skip: baseOf(impl).skip }, async (t) => {
          runNativeAt(baseOf(impl).level);
          const b = benchOf();
          const reference = await b.outcome(TFJS, c);
          let first: Outcome;
          if (isPooled(impl)) {
            first = await b.run(await b.pool(impl), c, 'host');
            const here = await b.outcome(impl.base, c);
            assertOutcomesBitwise(first, here, `${impl.threads} threads vs ${impl.base.label} in this thread`, { loss: false });
            const lossErr = Math.abs(first.lossSum - here.lossSum);
            assert.ok(lossErr <= REPLICA_LOSS_RTOL * Math.abs(here.lossSum), `${impl.threads} threads vs this thread: lossSum ${first.lossSum} vs ${here.lossSum}`);
          } else first = await b.outcome(impl, c);
          const again = await b.run(isPooled(impl) ? await b.pool(impl) : b.loop(impl), c, 'device');
          assertOutcomesBitwise(again, first, 'the same call again (inputs in device form)');
          const tolerance = toleranceOf(impl);
          const worst = assertOutcomesClose(first, reference, tolerance, 'vs TfjsLoop', await b.looseBounds(impl, c));
          const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
          if (tolerance.rtol > 0) t.diagnostic(`largest error vs TfjsLoop, as a share of the tolerance: values ${percent(worst.values)}, lossSum ${percent(worst.loss)}`);
        });
      }
    }
  });
}

// =============================================================================================
// Mode semantics on TfjsLoop, by hand: a one-weight model y = w x + b, squared error summed over
// examples, momentum SGD (lr 0.1, momentum 0.9: v <- 0.9 v + g; p <- p - 0.1 v). From w = 0.5,
// b = 0, one step on task A (x = 1, y = 0) has loss 0.25 and gradient (dw, db) = (1, 1); on task
// B (x = 2, y = 0) loss 1 and gradient (4, 2).

describe('mode semantics, by hand (TfjsLoop; StackedLoop and FusedMlp too)', () => {
  const layout: ExampleLayoutSource = { kind: 'regression', inputShape: [1], targetShape: [1] };
  const model = mlp([1, 1]);
  const setup = { model, loss: meanSquaredError('sum'), layout };
  const optimizer = sgd({ learningRate: 0.1, momentum: 0.9 });
  const theta: HostParams = { names: ['dense0/kernel', 'dense0/bias'], shapes: [[1, 1], [1]], values: [Float32Array.of(0.5), Float32Array.of(0)] };
  const task = (x: number): AdaptJob => ({ count: 1, x: Float32Array.of(x), y: Float32Array.of(0), batches: [[0]] });
  const state = (step: number, dw: number, db: number): HostOptimizerState => ({ step, slots: { velocity: { names: theta.names, shapes: theta.shapes, values: [Float32Array.of(dw), Float32Array.of(db)] } } });
  const params = (w: number, b: number) => [w, b];
  /** [w, b] per task, the end state's [step, vw, vb] (undefined: none), the mean [w, b], lossSum. */
  interface Expected { each: number[][]; state?: number[]; eachState?: number[][]; mean: number[]; lossSum: number }
  const HAND: { what: string; mode: InnerStateMode; start?: HostOptimizerState; expected: Expected }[] = [
    // A: v = (1, 1), (w, b) = (0.4, -0.1). B: v = (4, 2), (0.1, -0.2). No state comes back.
    { what: "'fresh' ignores the given state and returns none", mode: 'fresh', start: state(1, 1, 1), expected: { each: [params(0.4, -0.1), params(0.1, -0.2)], mean: [0.25, -0.15], lossSum: 1.25 } },
    // A from v = 0: v = (1, 1). B from A's end state: v = (0.9 + 4, 0.9 + 2) = (4.9, 2.9), (w, b) = (0.01, -0.29).
    { what: "'chain' from no state: B starts from A's end state", mode: 'chain', expected: { each: [params(0.4, -0.1), params(0.01, -0.29)], state: [2, 4.9, 2.9], mean: [0.205, -0.195], lossSum: 1.25 } },
    // From v = (1, 1), step 1: A: v = (1.9, 1.9), (0.31, -0.19); B: v = (0.9 * 1.9 + 4, 0.9 * 1.9 + 2) = (5.71, 3.71), (-0.071, -0.371).
    { what: "'chain' from a given state", mode: 'chain', start: state(1, 1, 1), expected: { each: [params(0.31, -0.19), params(-0.071, -0.371)], state: [3, 5.71, 3.71], mean: [0.1195, -0.2805], lossSum: 1.25 } },
    // Both from v = (1, 1), step 1: A: v = (1.9, 1.9), (0.31, -0.19); B: v = (4.9, 2.9), (0.01, -0.29). End state: their mean, step 2.
    { what: "'common': every task from the given state; the mean end state", mode: 'common', start: state(1, 1, 1), expected: { each: [params(0.31, -0.19), params(0.01, -0.29)], state: [2, 3.4, 2.4], eachState: [[2, 1.9, 1.9], [2, 4.9, 2.9]], mean: [0.16, -0.24], lossSum: 1.25 } },
  ];
  /** Decimal results in float32, a few operations each: within 4 float32 ulps (2^-23 relative each). */
  const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= 2 ** -21 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, by hand ${expected}`);
  const nearState = (s: HostOptimizerState | undefined, e: number[], what: string) => {
    assert.ok(s, `${what}: no state came back`);
    assert.equal(s.step, e[0], `${what}: step`);
    near(s.slots.velocity.values[0][0], e[1], `${what}: velocity of w`);
    near(s.slots.velocity.values[1][0], e[2], `${what}: velocity of b`);
  };

  for (const impl of [TFJS, STACKED, FUSED_MLP]) {
    for (const { what, mode, start, expected } of HAND) {
      test(`${impl.label}: ${what}`, async () => {
        const loop = impl.build(setup, optimizer);
        assert.equal(loop.name, impl.expect);
        for (const keep of ['each', 'mean'] as const) {
          const { theta: t, state: s } = inputStores(theta, start, 'host');
          const r = settle(await loop.adaptTasks(t, s, [task(1), task(2)], { mode, keep }));
          t.dispose();
          s?.dispose();
          near(r.lossSum, expected.lossSum, `${keep}: lossSum`);
          if (expected.state) nearState(r.state, expected.state, `${keep}: end state`);
          else assert.equal(r.state, undefined, `${keep}: '${mode}' returns no state`);
          if (keep === 'mean') {
            r.mean!.values.forEach((v, k) => near(v[0], expected.mean[k], `mean ${r.mean!.names[k]}`));
            continue;
          }
          assert.equal(r.each!.length, 2);
          r.each!.forEach((p, i) => p.values.forEach((v, k) => near(v[0], expected.each[i][k], `task ${i} ${p.names[k]}`)));
          if (expected.eachState) expected.eachState.forEach((e, i) => nearState(r.eachState?.[i], e, `task ${i} end state`));
          else assert.equal(r.eachState, undefined, `'${mode}' returns no per-task end state`);
        }
      });
    }
  }
});

// =============================================================================================
// Mode semantics on TfjsLoop, by relation between calls (bitwise): Adam beta1 0.9 on an MLP, so
// the step count and both slots matter.

describe('mode semantics, by relation between calls (TfjsLoop)', () => {
  const setting = SETTINGS[3];
  const bench = new Bench(setting);
  const two: JobPlan = { name: 'two tasks', steps: [3, 2], batch: 3 };
  const call = (state: HostOptimizerState | undefined, jobs: AdaptJob[], mode: InnerStateMode, keep: 'mean' | 'each') => bench.call(TFJS, state, jobs, mode, keep);
  /** Task i of `two` alone, from `state`. */
  const alone = async (i: number, state: HostOptimizerState | undefined) => call(state, [bench.jobs(two)[i]], 'chain', 'each');
  /** Element-wise float32 mean of two, as the contract's mean (summed in task order, then divided). */
  const mean2 = (a: Float32Array, b: Float32Array) => a.map((x, i) => Math.fround(Math.fround(x + b[i]) / 2));

  test("'chain' with two tasks equals two calls, the second from the first's end state", async () => {
    const start = await bench.persisted();
    const both = await call(start, bench.jobs(two), 'chain', 'each');
    const a = await alone(0, start);
    const b = await alone(1, a.state);
    assertParamsBitwise(both.each![0], a.each![0], 'task 0');
    assertParamsBitwise(both.each![1], b.each![0], 'task 1');
    assertStateBitwise(both.state, b.state, 'end state');
    assert.equal(both.state!.step, start.step + 5);
    assert.equal(both.lossSum, Math.fround(a.lossSum + b.lossSum), 'lossSum: the float32 sum of the two');
    const mean = await call(start, bench.jobs(two), 'chain', 'mean');
    mean.mean!.values.forEach((v, k) => assert.deepEqual(v, mean2(a.each![0].values[k], b.each![0].values[k]), `mean ${mean.mean!.names[k]}`));
    assertStateBitwise(mean.state, b.state, "keep 'mean': end state");
  });

  test("'common' starts every task from the given state and returns the element-wise mean of their end states", async () => {
    const start = await bench.persisted();
    const both = await call(start, bench.jobs(two), 'common', 'each');
    const a = await alone(0, start);
    const b = await alone(1, start);
    assertParamsBitwise(both.each![0], a.each![0], 'task 0');
    assertParamsBitwise(both.each![1], b.each![0], 'task 1');
    assertStateBitwise(both.eachState![0], a.state, 'task 0 end state');
    assertStateBitwise(both.eachState![1], b.state, 'task 1 end state');
    assert.equal(both.state!.step, start.step + 2, "the last task's step count (src/core/inner-loop.ts: 'common')");
    for (const slot of ['m', 'v']) {
      both.state!.slots[slot].values.forEach((v, k) => assert.deepEqual(v, mean2(a.state!.slots[slot].values[k], b.state!.slots[slot].values[k]), `slot ${slot} ${both.state!.slots[slot].names[k]}`));
    }
    const mean = await call(start, bench.jobs(two), 'common', 'mean');
    mean.mean!.values.forEach((v, k) => assert.deepEqual(v, mean2(a.each![0].values[k], b.each![0].values[k]), `mean ${mean.mean!.names[k]}`));
    assertStateBitwise(mean.state, both.state, "keep 'mean': end state");
  });

  test("'fresh' starts every task from a fresh state, ignores the given one and returns none", async () => {
    const start = await bench.persisted();
    const given = await call(start, bench.jobs(two), 'fresh', 'each');
    const none = await call(undefined, bench.jobs(two), 'fresh', 'each');
    const common = await call(undefined, bench.jobs(two), 'common', 'each');
    assert.equal(given.state, undefined);
    assert.equal(given.eachState, undefined);
    assertOutcomesBitwise(given, none, 'with and without a given state');
    given.each!.forEach((p, i) => assertParamsBitwise(p, common.each![i], `task ${i}: as 'common' from a fresh state`));
    assert.equal(given.lossSum, common.lossSum);
  });
});

// =============================================================================================
// No tensor leaks

for (const impl of [TFJS, STACKED]) {
  test(`${impl.label} leaks no tensor over many calls (every mode and keep, inputs in both forms)`, async () => {
    const bench = new Bench(SETTINGS[3]);
    const loop = bench.loop(impl);
    const start = await bench.persisted();
    const round = async () => {
      for (const plan of [FOUR_TASKS, UNEVEN]) for (const mode of MODES) for (const keep of ['mean', 'each'] as const) for (const form of ['host', 'device'] as const) {
        const inputs = inputStores(bench.theta, start, form);
        settle(await loop.adaptTasks(inputs.theta, inputs.state, bench.jobs(plan), { mode, keep }));
        inputs.theta.dispose();
        inputs.state?.dispose();
      }
    };
    await round(); // whatever a backend allocates once
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await round();
    assert.equal(tf.memory().numTensors, before, `${impl.label} leaked ${tf.memory().numTensors - before} tensors over 72 calls`);
  });
}

// =============================================================================================
// What comes back in each mode with keep 'each'

test("keep 'each' returns each task's end state in mode 'common' only (what the pool reduces)", async () => {
  const bench = new Bench(SETTINGS[3]);
  for (const mode of ['chain', 'common', 'fresh'] as const) {
    const r = await bench.call(TFJS, await bench.persisted(), bench.jobs(FOUR_TASKS), mode, 'each');
    assert.equal(r.eachState?.length, mode === 'common' ? 4 : undefined, mode);
  }
});
