/**
 * The inner-loop contract (src/core/inner-loop.ts), one suite for every implementation: each
 * runs the same cases and must give what TfjsLoop (the reference) gives, to a stated tolerance,
 * and bitwise what it is a replica of.
 *
 * - Implementations (IMPLEMENTATIONS): TfjsLoop; StackedLoop; the fused MLP; the fused CNN's
 *   native and wasm builds (through the factory, src/algorithms/select-inner-loop.ts); and
 *   AdaptPool with 2 and 3 threads over each loop its threads run (stacked tfjs for an MLP, the
 *   fused MLP, tfjs for a CNN, both fused CNN builds).
 * - Cases (SETTINGS x PLANS x mode x keep x start): SGD, momentum SGD (0.9), Adam with beta1 0 and
 *   0.9, each on an MLP (7-5-3 or 13-11-4: not multiples of the SIMD width; relu or tanh;
 *   cross-entropy mean or sum, squared error mean or sum) and on the paper's CNN (small inputs,
 *   16 filters, 3 classes); four tasks, one task of batch 1, tasks with no step; modes 'chain',
 *   'common', 'fresh'; keep 'mean' and 'each'; no start state or a persisted one (from a previous
 *   call: Adam's step count and slots matter).
 * - Every test: the implementation's answer against the reference's (mean or each parameters,
 *   each task's end state, the end state's step and slots, lossSum); the same call again, with the
 *   inputs in device form instead of host form, bitwise the same; the inputs unchanged. A pool
 *   also gives bitwise what its thread's loop gives in this thread.
 * - Then the mode semantics on TfjsLoop, by hand on a one-weight model and by relation between
 *   calls, and no tensor leak over many calls of TfjsLoop and StackedLoop.
 *
 * Tolerances (vs TfjsLoop; each value within rtol (|reference| + S), S the largest magnitude in
 * the same parameter set or slot, so that values near zero are held to the set's scale; lossSum
 * within lossRtol relative):
 * - StackedLoop: 1e-6. It computes each task's own tfjs ops, batched (T copies' matmuls, one
 *   loss over all T x batch examples), so it is bitwise per task except where a reduction runs
 *   over a different shape; 1e-6 is ~10 float32 ulps of the set's scale.
 * - Fused MLP: 2e-5 (parameters, slots) and 1e-5 (lossSum). Float32 with another order of
 *   additions (and the meta-update in the kernel): each step's gradient differs by a few ulps
 *   times the fan-in (<= 13 here), a handful of steps compound it, and Adam's m / sqrt(v) passes
 *   the gradient's relative error through to the step; measured worst cases are ~10x below.
 * - Fused CNN (native: FMA and 16-wide vectors; wasm: 4-wide): 1e-4 and 2e-5. Longer sums (9 x
 *   filters terms per output, batch norm over batch x H x W) and batch norm's division by the
 *   batch's standard deviation, which amplifies input differences; measured worst ~10x below.
 *   Exception, Adam only: the conv biases. Batch norm subtracts the batch mean right after them, so
 *   their true gradient is 0 and the computed one is rounding noise, different in every
 *   implementation; Adam divides it by its own root mean square and moves the bias by up to ~lr
 *   per step in a direction that is noise (src/kernels/fused-cnn.ts says the same). No output
 *   depends on them. They are held to a loose bound instead: no further from the reference than
 *   twice the most Adam can move a parameter in the task's steps (adamTravel), which still fails
 *   a bias that is NaN, unbounded or moved by the wrong rate.
 * - A pool and its thread's loop, the same call twice: bitwise (parameters, states, step counts,
 *   lossSum), whatever the number of threads.
 *
 * Runs on the wasm backend (the default, and what the pool's threads run). The native addon's
 * cases are skipped where it is not built, unless REPTILE_REQUIRE_NATIVE=1 makes that a failure.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, paramsFromHost, paramsToHostSync, type HostParams } from '../src/core/params.js';
import type { HostOptimizerState } from '../src/core/optimizer-state.js';
import { ParamStore, StateStore } from '../src/core/param-store.js';
import type { InnerLoop, InnerLoopName, InnerStateMode } from '../src/core/inner-loop.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy, lossSpec, meanSquaredError, type LossFn } from '../src/nn/losses.js';
import { adam, sgd, type Optimizer } from '../src/nn/optimizers.js';
import type { Model } from '../src/nn/model.js';
import type { ExampleLayoutSource } from '../src/tasks/task.js';
import { TfjsLoop } from '../src/algorithms/tfjs-loop.js';
import { selectInnerLoop, type InnerLoopSetup, type KernelChoice } from '../src/algorithms/select-inner-loop.js';
import { AdaptPool } from '../src/parallel/worker-pool.js';
import { nativeKernels, nativeKernelsStatus } from '../src/kernels/fused-native.js';
import {
  adamTravel, assertOutcomesBitwise, assertOutcomesClose, assertParamsBitwise, assertStateBitwise, copyParams, firstSteps,
  inputStores, makeJobs, settle, type JobPlan, type LooseBounds, type Outcome, type Tolerance,
} from './support/contract-cases.js';

await useBackend('wasm');

// =============================================================================================
// Implementations

type Family = 'mlp' | 'cnn';

interface InThread {
  label: string;
  families: readonly Family[];
  /** The loop, built as callers get it; must be `expect`. */
  build(setup: InnerLoopSetup, optimizer: Optimizer): InnerLoop;
  expect: InnerLoopName;
  /** What the factory is allowed when this loop runs in a pool's threads (absent: not poolable). */
  poolKernels?: KernelChoice;
  tolerance: Tolerance;
  /** Whether Adam's conv biases are held to the loose bound (see the header). */
  noisyConvBias: boolean;
  skip: string | false;
}

interface Pooled {
  label: string;
  base: InThread;
  threads: 2 | 3;
}

type Implementation = InThread | Pooled;
const isPooled = (impl: Implementation): impl is Pooled => 'base' in impl;

const nativeSkip = nativeKernels() !== undefined || process.env.REPTILE_REQUIRE_NATIVE === '1' ? false : `the native addon is ${nativeKernelsStatus()}`;
const factory = (kernels: KernelChoice) => (setup: InnerLoopSetup, optimizer: Optimizer) => selectInnerLoop(setup, optimizer, { kernels });

const EXACT: Tolerance = { rtol: 0, lossRtol: 0 };
const FUSED_CNN: Tolerance = { rtol: 1e-4, lossRtol: 2e-5 };

const TFJS: InThread = { label: 'TfjsLoop', families: ['mlp', 'cnn'], build: (s, o) => new TfjsLoop(s, o), expect: 'tfjs', poolKernels: 'none', tolerance: EXACT, noisyConvBias: false, skip: false };
const IN_THREAD: InThread[] = [
  TFJS,
  { label: 'StackedLoop', families: ['mlp'], build: factory('none'), expect: 'tfjs-stacked', poolKernels: 'none', tolerance: { rtol: 1e-6, lossRtol: 1e-6 }, noisyConvBias: false, skip: false },
  { label: 'FusedMlp', families: ['mlp'], build: factory(['fused-mlp']), expect: 'fused-mlp', poolKernels: ['fused-mlp'], tolerance: { rtol: 2e-5, lossRtol: 1e-5 }, noisyConvBias: false, skip: false },
  { label: 'FusedCnn native', families: ['cnn'], build: factory(['fused-cnn-native']), expect: 'fused-cnn-native', poolKernels: ['fused-cnn-native'], tolerance: FUSED_CNN, noisyConvBias: true, skip: nativeSkip },
  { label: 'FusedCnn wasm', families: ['cnn'], build: factory(['fused-cnn-wasm']), expect: 'fused-cnn-wasm', poolKernels: ['fused-cnn-wasm'], tolerance: FUSED_CNN, noisyConvBias: true, skip: false },
];

/** Pools over what their threads run: for an MLP the factory's tfjs choice is the stacked loop, for a CNN plain tfjs. */
const POOL_BASES: { base: InThread; family: Family }[] = [
  { base: IN_THREAD[1], family: 'mlp' },
  { base: IN_THREAD[2], family: 'mlp' },
  { base: TFJS, family: 'cnn' },
  { base: IN_THREAD[3], family: 'cnn' },
  { base: IN_THREAD[4], family: 'cnn' },
];

function implementationsFor(family: Family): Implementation[] {
  const pooled = ([2, 3] as const).flatMap((threads) => POOL_BASES.filter((p) => p.family === family).map(({ base }): Pooled => ({ label: `AdaptPool(${threads} threads) of ${base.label}`, base, threads })));
  return [...IN_THREAD.filter((i) => i.families.includes(family)), ...pooled];
}

const baseOf = (impl: Implementation): InThread => (isPooled(impl) ? impl.base : impl);

// =============================================================================================
// Cases

interface Setting {
  name: string;
  family: Family;
  model: Model;
  loss: LossFn;
  optimizer: Optimizer;
  layout: ExampleLayoutSource;
  plans: JobPlan[];
}

const FOUR_TASKS: JobPlan = { name: '4 tasks x 3 steps of 3', steps: [3, 3, 3, 3], batch: 3 };
const ONE_TASK_BATCH_1: JobPlan = { name: '1 task x 4 steps of 1 example', steps: [4], batch: 1 };
const ONE_TASK_BATCH_3: JobPlan = { name: '1 task x 4 steps of 3', steps: [4], batch: 3 };
const ZERO_STEPS: JobPlan = { name: '3 tasks, the middle one with no step', steps: [2, 0, 2], batch: 3 };

const mlpLayout = (sizes: number[], classification: boolean): ExampleLayoutSource =>
  classification ? { kind: 'classification', inputShape: [sizes[0]], targetShape: [] } : { kind: 'regression', inputShape: [sizes[0]], targetShape: [sizes[sizes.length - 1]] };
const cnnLayout = (inputShape: number[]): ExampleLayoutSource => ({ kind: 'classification', inputShape, targetShape: [] });
const cnn = (inputShape: number[]) => conv({ variant: 'omniglot', classes: 3, inputShape, filters: 16 });

/**
 * Batch 1 on the CNN: with batch statistics, a block whose output is 1x1 normalises one value per
 * channel to exactly beta, so everything before it gets a gradient that is rounding noise; SGD
 * keeps noise small, Adam makes it +-lr. Adam's CNN cases with batch 1 therefore use 17x17 inputs
 * (2x2 after the last block), and the other Adam CNN case takes batch 3 instead.
 */
const SETTINGS: Setting[] = [
  { name: 'MLP 7-5-3 relu, cross-entropy mean, SGD', family: 'mlp', model: mlp([7, 5, 3]), loss: crossEntropy(), optimizer: sgd({ learningRate: 0.1 }), layout: mlpLayout([7, 5, 3], true), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'MLP 13-11-4 tanh, squared error sum, momentum SGD 0.9', family: 'mlp', model: mlp([13, 11, 4], { activation: 'tanh' }), loss: meanSquaredError('sum'), optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), layout: mlpLayout([13, 11, 4], false), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'MLP 7-5-3 relu, cross-entropy sum, Adam beta1 0', family: 'mlp', model: mlp([7, 5, 3]), loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.01, beta1: 0 }), layout: mlpLayout([7, 5, 3], true), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'MLP 13-11-4 tanh, squared error mean, Adam beta1 0.9', family: 'mlp', model: mlp([13, 11, 4], { activation: 'tanh' }), loss: meanSquaredError(), optimizer: adam({ learningRate: 0.01 }), layout: mlpLayout([13, 11, 4], false), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'CNN 9x9x1 16 filters 3-way, cross-entropy mean, SGD', family: 'cnn', model: cnn([9, 9, 1]), loss: crossEntropy(), optimizer: sgd({ learningRate: 0.05 }), layout: cnnLayout([9, 9, 1]), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'CNN 14x14x1 16 filters 3-way, cross-entropy sum, momentum SGD 0.9', family: 'cnn', model: cnn([14, 14, 1]), loss: crossEntropy('sum'), optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), layout: cnnLayout([14, 14, 1]), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'CNN 17x17x1 16 filters 3-way, cross-entropy mean, Adam beta1 0', family: 'cnn', model: cnn([17, 17, 1]), loss: crossEntropy(), optimizer: adam({ learningRate: 0.003, beta1: 0 }), layout: cnnLayout([17, 17, 1]), plans: [FOUR_TASKS, ONE_TASK_BATCH_1, ZERO_STEPS] },
  { name: 'CNN 14x14x1 16 filters 3-way, cross-entropy sum, Adam beta1 0.9', family: 'cnn', model: cnn([14, 14, 1]), loss: crossEntropy('sum'), optimizer: adam({ learningRate: 0.003 }), layout: cnnLayout([14, 14, 1]), plans: [FOUR_TASKS, ONE_TASK_BATCH_3, ZERO_STEPS] },
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

/** Every plan in every mode and keep, from a persisted state; the four-task plan also from none ('fresh' ignores it anyway). */
function casesOf(setting: Setting): Case[] {
  return setting.plans.flatMap((plan) =>
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

const outputsOf = (s: Setting) => s.model.outputSize;

class Bench {
  /** Never handed to a loop: the loops get copies, checked against these afterwards. */
  readonly theta: HostParams;
  readonly start: HostOptimizerState;
  private readonly loops = new Map<InThread, InnerLoop>();
  private readonly pools = new Map<string, Promise<AdaptPool>>();
  /** The first run's outcome of an in-thread loop on a case (the reference's and the pools' replica). */
  private readonly outcomes = new Map<string, Outcome>();

  constructor(readonly setting: Setting) {
    const { model, loss, optimizer, layout } = setting;
    const init = model.init(Rng.fromSeed(11));
    this.theta = paramsToHostSync(init);
    disposeParams(init);
    // The persisted state: TfjsLoop's end state after two tasks of 2 steps, chained.
    const warm = makeJobs(layout, outputsOf(setting), { name: 'warm-up', steps: [2, 2], batch: 3 }, 99);
    const r = new TfjsLoop({ model, loss, layout }, optimizer);
    this.start = undefined!;
    this.startPromise = r.adaptTasks(ParamStore.ofHost(copyParams(this.theta)), undefined, warm, { mode: 'chain' }).then((res) => settle(res).state!);
  }

  private startPromise: Promise<HostOptimizerState>;
  private startState: HostOptimizerState | undefined;

  async persisted(): Promise<HostOptimizerState> {
    return (this.startState ??= await this.startPromise);
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

  pool(impl: Pooled): Promise<AdaptPool> {
    let pool = this.pools.get(impl.label);
    if (!pool) {
      const { model, loss, optimizer, layout } = this.setting;
      pool = AdaptPool.start(impl.threads, { backend: 'wasm', model: model.spec, loss: lossSpec(loss)!, optimizer: { name: optimizer.name, config: optimizer.config }, layout, kernels: impl.base.poolKernels });
      this.pools.set(impl.label, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = await Promise.allSettled(this.pools.values());
    await Promise.all(pools.map((p) => (p.status === 'fulfilled' ? p.value.close() : undefined)));
  }

  /**
   * One call of `loop` on case `c` with the inputs in `form`; checks that the inputs (the stores'
   * values, in the form given) are unchanged after it.
   */
  async run(loop: InnerLoop, c: Case, form: 'host' | 'device'): Promise<Outcome> {
    const start = c.persisted ? await this.persisted() : undefined;
    const inputs = inputStores(this.theta, start, form);
    const jobs = makeJobs(this.setting.layout, outputsOf(this.setting), c.plan, 7);
    try {
      return settle(await loop.adaptTasks(inputs.theta, inputs.state, jobs, { mode: c.mode, keep: c.keep }));
    } finally {
      assertParamsBitwise(inputs.theta.host, this.theta, `theta (${form} form) after the call`);
      if (start) assertStateBitwise(inputs.state!.host, start, `start state (${form} form) after the call`);
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

  /** The loose bound of Adam's conv biases for this case (see the header), or none. */
  async looseBounds(impl: Implementation, c: Case): Promise<LooseBounds | undefined> {
    const { optimizer } = this.setting;
    if (!baseOf(impl).noisyConvBias || optimizer.name !== 'adam') return undefined;
    const startStep = c.persisted ? (await this.persisted()).step : 0;
    const firsts = firstSteps(c.mode, startStep, c.plan.steps);
    const travel = Math.max(...c.plan.steps.map((k, j) => adamTravel(optimizer.config as { learningRate: number; beta1: number; beta2: number }, firsts[j], k)));
    return (name) => (/^conv\d+\/bias$/.test(name) ? 2 * travel : undefined);
  }
}

// =============================================================================================
// The contract, implementation by implementation, case by case

for (const setting of SETTINGS) {
  describe(setting.name, () => {
    let bench: Bench | undefined;
    const benchOf = () => (bench ??= new Bench(setting));
    after(() => bench?.close());

    for (const c of casesOf(setting)) {
      for (const impl of implementationsFor(setting.family)) {
        const skip = baseOf(impl).skip;
        test(`${impl.label}: ${c.name}`, { skip }, async (t) => {
          const b = benchOf();
          const reference = await b.outcome(TFJS, c);
          const loop = isPooled(impl) ? await b.pool(impl) : b.loop(impl);
          const first = isPooled(impl) || impl === TFJS ? await b.run(loop, c, 'host') : await b.outcome(impl, c);
          const again = await b.run(loop, c, 'device');
          assertOutcomesBitwise(again, first, 'the same call again (inputs in device form)');
          if (isPooled(impl)) {
            assert.equal(loop.name, impl.base.expect, 'the loop the pool runs');
            assertOutcomesBitwise(first, await b.outcome(impl.base, c), `${impl.threads} threads vs ${impl.base.label} in this thread`);
          }
          const worst = assertOutcomesClose(first, reference, baseOf(impl).tolerance, 'vs TfjsLoop', await b.looseBounds(impl, c));
          t.diagnostic(`largest error: ${(100 * worst).toFixed(1)}% of the tolerance`);
        });
      }
    }
  });
}
