/**
 * `reptile train`: meta-train the configured algorithm (and then the baseline, at the same
 * budget) on a benchmark, with periodic evaluation into metrics.jsonl, checkpoints that a
 * resumed run continues from with identical results, the model export, charts and summary.json.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Rng } from '../core/rng.js';
import { useBackend } from '../core/backend.js';
import { disposeParams, type ParamSet } from '../core/params.js';
import type { MetaLearner } from '../algorithms/meta-learner.js';
import { metaTrain } from '../train/meta-train.js';
import { RunDir, RUN_FILES } from '../io/run-dir.js';
import { saveModel } from '../io/model-files.js';
import { loadSafetensorsParams, type InitFile } from '../io/safetensors-files.js';
import { writeLayersModelFiles } from '../io/layers-model-files.js';
import { readJsonLines, removeStaleTemporaries, writeFileAtomic } from '../io/files.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { buildLearner, checkLayerwiseScales, checkSecondOrder } from './build.js';
import { innerOptimizerOf } from '../demo/run-settings.js';
import { kernelChoice, scheduleOptions, trainingInnerOptimizer } from './library-options.js';
import { innerLoopOnThreads, type ThreadedInnerLoop } from '../parallel/worker-pool.js';
import { selectInnerLoop } from '../algorithms/select-inner-loop.js';
import type { InnerLoop } from '../core/inner-loop.js';
import { runStreams } from './streams.js';
import { startEvaluationThreads, type EvaluationThreads } from './evaluation-pool.js';
import { createProgress } from './progress.js';
import { runMetadata } from './metadata.js';
import { nativeCpuLevelUsed, resumedCpuLevel } from './cpu-level.js';
import { UsageError } from './errors.js';
import type { BenchmarkSetup } from './benchmark.js';
import type { TrainConfig } from './config.js';
import type { TrainHooks } from './test-hooks.js';
import type { CoordinatorFlags } from './broker-options.js';
import type { BrokerSession } from './train-broker.js';

export const CHECKPOINT_FILE = `${RUN_FILES.checkpoint}/state.bin`;

export interface PhaseResult {
  algorithm: string;
  /** Meta-training time including periodic evaluations (summed over resumed sessions). */
  wallSeconds: number;
  /** Meta-training time without periodic evaluations. */
  trainingSeconds: number;
  /** Meta-iterations per second of training time. */
  metaItersPerSecond: number;
  eval: Record<string, unknown>;
}

export interface TrainSummary {
  benchmark: string;
  algorithm: string;
  metaIters: number;
  /** This session's wall time: both phases, evaluations, charts. */
  wallSeconds: number;
  trainingSeconds: number;
  metaItersPerSecond: number;
  msPerMetaIteration: number;
  backend: string;
  eval: Record<string, unknown>;
  baseline?: PhaseResult;
  runDir: string;
}

/** Job state kept in a checkpoint besides tensors and random streams. */
interface JobState {
  phase: number;
  finished: PhaseResult[];
  lossSum: number;
  lossCount: number;
  wallSeconds: number;
  evalSeconds: number;
}

/** Makes --backend the active backend (a usage error if it cannot run); before any tensor is made (--model-file's weights). */
export async function selectBackend(config: TrainConfig): Promise<string> {
  try {
    return await useBackend(config.backend);
  } catch (error) {
    throw new UsageError(`--backend ${config.backend}: ${(error as Error).message}`);
  }
}

/**
 * What adapts Reptile's meta-batches: the worker pool with --workers n >= 2 where threads help,
 * else this thread (none for one task per meta-iteration: the serial loop gives the same numbers).
 */
async function startInnerLoop(config: TrainConfig, benchmark: BenchmarkSetup, backend: string, log: (line: string) => void, hooks: TrainHooks | undefined, broker: BrokerSession | undefined): Promise<ThreadedInnerLoop | undefined> {
  const setup = { model: benchmark.model, loss: benchmark.loss, layout: benchmark.trainTasks };
  if (broker) {
    const { brokerInnerLoop } = await import('./train-broker.js');
    return brokerInnerLoop(broker, config, setup, trainingInnerOptimizer(config), { backend: backend as 'wasm' | 'cpu' | 'node', kernels: kernelChoice(config), log, duplicateAtVersion: hooks?.brokerDuplicateAt });
  }
  if (config.workers === 0 || config.metaBatch === 1) return undefined;
  const throwForTest = hooks?.workerThrow !== undefined ? { worker: 1, request: hooks.workerThrow } : undefined;
  const threaded = await innerLoopOnThreads(setup, trainingInnerOptimizer(config), { workers: config.workers, backend: backend as 'wasm' | 'cpu' | 'node', kernels: kernelChoice(config), throwForTest });
  if (throwForTest && threaded.threads === 1) {
    await threaded.close();
    throw new UsageError(`REPTILE_TEST_WORKER_THROW=${throwForTest.request}: the ${threaded.loop.name} kernel adapts the meta-batch in this thread, no worker thread starts (use --inner-loop tfjs)`);
  }
  if (threaded.threads > 1) log(`adapting the ${config.metaBatch} tasks of each meta-iteration in ${threaded.threads} worker threads`);
  else if (config.workers > 1) log(`the ${threaded.loop.name} kernel adapts each meta-batch in this thread (faster than ${config.workers} threads for this model; the numbers are those of --workers ${config.workers})`);
  return threaded;
}

/**
 * What runs the inner loops, recorded in config.json: a fused kernel ('fused-mlp',
 * 'fused-cnn-native', 'fused-cnn-wasm') or TensorFlow.js ('tfjs', 'tfjs-stacked'), for training
 * and for every algorithm's evaluation. MAML differentiates its own tfjs loop; scratch trains nothing.
 */
function innerLoopUsed(config: TrainConfig, benchmark: BenchmarkSetup): { training: string; evaluation: string } {
  const setup = { model: benchmark.model, loss: benchmark.loss, layout: benchmark.trainTasks };
  const kernels = kernelChoice(config);
  const evaluation = selectInnerLoop(setup, innerOptimizerOf(config), { kernels }).name;
  const metaTraining = () => selectInnerLoop(setup, trainingInnerOptimizer(config), { kernels }).name;
  // Joint training steps with the evaluation's optimizer (for classification on a C-way copy of
  // the model, which the factory treats alike).
  const training = { reptile: metaTraining, fomaml: metaTraining, joint: () => evaluation, maml: () => 'tfjs', scratch: () => 'none' }[config.algorithm]();
  return { training, evaluation };
}

function readMetrics(runDir: RunDir): Promise<Record<string, unknown>[]> {
  return readJsonLines(runDir.file(RUN_FILES.metrics));
}

export interface TrainJobOptions {
  /** Continue the run in config.out from its checkpoint. */
  resume?: boolean;
  log: (line: string) => void;
  /** Test hooks: called at each point of the run (test-hooks.ts). */
  hooks?: TrainHooks;
  /** --broker and its flags: Reptile's meta-batches are adapted by `reptile worker` processes. */
  broker?: CoordinatorFlags;
  /** Threads that run the evaluations (--workers given: n >= 2 starts a pool; default 1: this thread). */
  evaluationWorkers?: number;
}

/** Where a run continues: a new run directory, or an existing one and what its checkpoint holds. */
interface RunStart {
  runDir: RunDir;
  state: JobState;
  /** The resumed phase's checkpoint (undefined for a new run). */
  checkpoint?: Checkpoint;
  /** The final parameters of phases an earlier session finished (for their charts). */
  finishedParams: ParamSet[];
}

/** The algorithm and its baseline, the phases of the run in order. */
export function phasesOf(config: TrainConfig): TrainConfig['algorithm'][] {
  return [config.algorithm, ...(config.baseline !== 'none' && config.baseline !== config.algorithm ? [config.baseline] : [])];
}

/** A new run directory with its config.json. */
async function createRun(config: TrainConfig, benchmark: BenchmarkSetup, backend: string, init: InitFile | undefined): Promise<RunStart> {
  const runDir = await RunDir.create(config.out, { force: config.force });
  if (benchmark.sourceModel) await writeLayersModelFiles(runDir.file(RUN_FILES.sourceModel), benchmark.sourceModel);
  const used = innerLoopUsed(config, benchmark);
  await runDir.writeConfig({ ...config, ...(init ? { initFromSha256: init.sha256 } : {}), ...benchmark.recorded, backendUsed: backend, innerLoopUsed: used, ...nativeCpuLevelUsed(used), modelSpec: benchmark.model.spec, ...runMetadata() });
  return { runDir, state: { phase: 0, finished: [], lossSum: 0, lossCount: 0, wallSeconds: 0, evalSeconds: 0 }, finishedParams: [] };
}

/**
 * An existing run at its last checkpoint. Everything is read before anything in the run
 * directory changes (a damaged file is a usage error); then metrics written after the
 * checkpoint are dropped (they will be written again, identically).
 */
async function resumeRun(config: TrainConfig): Promise<RunStart> {
  const runDir = RunDir.open(config.out);
  if (existsSync(runDir.file(RUN_FILES.summary))) {
    throw new UsageError(`--resume ${config.out}: the run is finished (it has ${RUN_FILES.summary}); evaluate it with 'reptile eval ${config.out}'`);
  }
  const read = (file: string) =>
    loadCheckpoint(runDir.file(file)).catch((error: Error) => {
      throw new UsageError(`--resume ${config.out}: ${error.message}`);
    });
  const checkpoint = await read(CHECKPOINT_FILE);
  const state = checkpoint.extra as unknown as JobState;
  const finishedParams: ParamSet[] = [];
  for (let phase = 0; phase < state.phase; phase++) finishedParams.push((await read(`${RUN_FILES.checkpoint}/phase${phase}.bin`)).params);
  // A killed session may have left a half-written checkpoint under a temporary name.
  await removeStaleTemporaries(runDir.file(CHECKPOINT_FILE));
  const algorithms = phasesOf(config);
  const kept = (await readMetrics(runDir)).filter((m) => {
    const phase = algorithms.indexOf(m.algorithm as TrainConfig['algorithm']);
    return phase < state.phase || (phase === state.phase && Number(m.iteration) <= checkpoint.iteration);
  });
  await writeFileAtomic(runDir.file(RUN_FILES.metrics), kept.map((m) => JSON.stringify(m) + '\n').join(''));
  return { runDir, state, checkpoint, finishedParams };
}

/** A resumed session on another instruction-set level than the run's record adds itself to config.json. */
async function recordResumedCpuLevel(run: RunStart, setup: BenchmarkSetup, config: TrainConfig): Promise<void> {
  const recorded = JSON.parse(await readFile(run.runDir.file(RUN_FILES.config), 'utf8'));
  const update = resumedCpuLevel(recorded, nativeCpuLevelUsed(innerLoopUsed(config, setup)), { phase: run.state.phase, iteration: run.checkpoint!.iteration });
  if (update) await run.runDir.writeConfig({ ...recorded, ...update });
}

/**
 * Trains each phase not finished yet (the algorithm, then its baseline), continuing the resumed
 * one from its checkpoint; returns every phase's learner (for the charts).
 */
async function runPhases(config: TrainConfig, benchmark: BenchmarkSetup, run: RunStart, theta0: ParamSet, innerLoop: InnerLoop | undefined, log: (line: string) => void, learners: MetaLearner[], hooks: TrainHooks | undefined): Promise<void> {
  const { runDir, state, checkpoint } = run;
  const resumePhase = checkpoint ? state.phase : -1;
  const algorithms = phasesOf(config);
  for (let phase = 0; phase < algorithms.length; phase++) {
    const learner = buildLearner(algorithms[phase], config, { model: benchmark.model, loss: benchmark.loss, layout: benchmark.trainTasks }, theta0, algorithms[phase] === 'reptile' ? innerLoop : undefined);
    learners.push(learner);
    const streams = runStreams(config.seed).phase(phase);
    let start = 0;
    if (phase < resumePhase) {
      // Finished in an earlier session: its result is in the checkpoint's job state, and its
      // final parameters (read from phaseN.bin) are needed only for the charts.
      learner.setParams(run.finishedParams[phase]);
      continue;
    }
    if (checkpoint && phase === resumePhase) {
      learner.setParams(checkpoint.params);
      learner.restoreOptimizerStates(checkpoint.optimizerStates);
      streams.tasks = Rng.fromState(checkpoint.rngStates.tasks);
      streams.batches = Rng.fromState(checkpoint.rngStates.batches);
      start = checkpoint.iteration;
    } else {
      Object.assign(state, { phase, lossSum: 0, lossCount: 0, wallSeconds: 0, evalSeconds: 0 });
    }
    const result = await trainPhase(config, benchmark, runDir, learner, streams, start, state, hooks);
    state.finished.push(result);
    // The finished phase's parameters, for a session that resumes during a later phase.
    await saveCheckpoint(runDir.file(`${RUN_FILES.checkpoint}/phase${phase}.bin`), { iteration: config.metaIters, params: learner.params, optimizerStates: {}, rngStates: {}, extra: {} });
    if (phase === 0) await saveModel(runDir.file(RUN_FILES.model), benchmark.model, learner.params, { benchmark: config.benchmark, algorithm: learner.algorithm, seed: config.seed });
    if (phase === 0) await hooks?.at({ point: 'model-export' });
    log(benchmark.describeFinal(phase === 0 ? learner.algorithm : `${learner.algorithm} (baseline)`, result.eval));
    state.phase = phase + 1;
  }
}

/** The charts and summary.json of a finished run. */
async function writeResults(config: TrainConfig, benchmark: BenchmarkSetup, run: RunStart, learners: MetaLearner[], backend: string, sessionStart: number): Promise<TrainSummary> {
  await benchmark.writeCharts(run.runDir, await readMetrics(run.runDir), learners);
  const [main, baseline] = run.state.finished;
  const summary: TrainSummary = {
    benchmark: config.benchmark,
    algorithm: main.algorithm,
    metaIters: config.metaIters,
    wallSeconds: (performance.now() - sessionStart) / 1000,
    trainingSeconds: main.trainingSeconds,
    metaItersPerSecond: main.metaItersPerSecond,
    msPerMetaIteration: (1000 * main.trainingSeconds) / config.metaIters,
    backend,
    eval: main.eval,
    ...(baseline ? { baseline } : {}),
    runDir: config.out,
  };
  await run.runDir.writeSummary(summary);
  return summary;
}

/**
 * --init-from's parameters for the benchmark's model, read before the run directory is created
 * (a file that does not fit is a usage error that leaves nothing behind). A resumed run checks
 * that the file is still the one it started from: its baseline phase starts from it too.
 */
async function readInitFrom(config: TrainConfig, benchmark: BenchmarkSetup, resume: boolean): Promise<InitFile | undefined> {
  if (config.initFrom === undefined) return undefined;
  const init = await loadSafetensorsParams(config.initFrom, benchmark.model).catch((error: Error) => {
    throw new UsageError(`--init-from ${error.message}`);
  });
  if (resume && config.initFromSha256 !== undefined && init.sha256 !== config.initFromSha256) {
    disposeParams(init.params);
    throw new UsageError(`--resume ${config.out}: its --init-from file ${config.initFrom} has changed since the run started (sha256 ${init.sha256}, recorded ${config.initFromSha256})`);
  }
  return init;
}

export async function runTrainJob(config: TrainConfig, setup: BenchmarkSetup, { resume = false, log, hooks, broker: brokerFlags, evaluationWorkers = 1 }: TrainJobOptions): Promise<TrainSummary> {
  const sessionStart = performance.now();
  const backend = await selectBackend(config);
  // Before anything is written or read: a scale naming no parameter is a usage error, and so
  // is a broker that cannot be used.
  checkLayerwiseScales(config, setup.model);
  checkSecondOrder(config, setup.model);
  const init = await readInitFrom(config, setup, resume);
  const broker = brokerFlags ? await (await import('./train-broker.js')).openBroker(config, brokerFlags, phasesOf(config), log) : undefined;
  let run: RunStart;
  try {
    run = resume ? await resumeRun(config) : await createRun(config, setup, backend, init);
  } catch (error) {
    if (init) disposeParams(init.params);
    throw error;
  }
  if (run.checkpoint) await recordResumedCpuLevel(run, setup, config);
  const theta0 = init?.params ?? setup.model.init(runStreams(config.seed).init);
  const learners: MetaLearner[] = [];
  let threaded: ThreadedInnerLoop | undefined;
  let evaluating: EvaluationThreads | undefined;
  try {
    evaluating = await startEvaluationThreads(config, setup, backend, evaluationWorkers, log);
    const { scorer } = evaluating;
    const benchmark: BenchmarkSetup = { ...setup, evaluatePeriodic: (p) => setup.evaluatePeriodic(p, scorer), evaluateFinal: (p) => setup.evaluateFinal(p, scorer) };
    threaded = phasesOf(config).includes('reptile') ? await startInnerLoop(config, benchmark, backend, log, hooks, broker) : undefined;
    await runPhases(config, benchmark, run, theta0, threaded?.loop, log, learners, hooks);
    return await writeResults(config, benchmark, run, learners, backend, sessionStart);
  } finally {
    learners.forEach((l) => l.dispose());
    disposeParams(theta0);
    await threaded?.close();
    await evaluating?.close();
  }
}

async function trainPhase(
  config: TrainConfig,
  benchmark: BenchmarkSetup,
  runDir: RunDir,
  learner: MetaLearner,
  streams: { tasks: Rng; batches: Rng },
  startIteration: number,
  state: JobState,
  hooks: TrainHooks | undefined,
): Promise<PhaseResult> {
  const phase = state.phase;
  const progress = createProgress(learner.algorithm, config.metaIters);
  let sessionStart = performance.now();
  const elapsed = () => state.wallSeconds + (performance.now() - sessionStart) / 1000;
  try {
    await metaTrain(learner, benchmark.trainTasks, streams, {
      ...scheduleOptions(config),
      startIteration,
      async onIteration(iteration, value) {
        state.lossSum += value;
        state.lossCount++;
        progress.update(iteration);
        await hooks?.at({ point: 'training', phase, iteration });
      },
      async onEvaluate(iteration) {
        const evalStart = performance.now();
        const metrics = await benchmark.evaluatePeriodic(learner.params);
        await runDir.appendMetrics({
          iteration,
          elapsedSeconds: elapsed(),
          algorithm: learner.algorithm,
          trainLoss: state.lossSum / Math.max(1, state.lossCount),
          ...metrics,
        });
        progress.evaluation(iteration, benchmark.describePeriodic(metrics));
        state.lossSum = 0;
        state.lossCount = 0;
        state.evalSeconds += (performance.now() - evalStart) / 1000;
        await hooks?.at({ point: 'evaluation', phase, iteration });
      },
      async onCheckpoint(iteration) {
        state.wallSeconds = elapsed();
        sessionStart = performance.now();
        await saveCheckpoint(runDir.file(CHECKPOINT_FILE), {
          iteration,
          params: learner.params,
          optimizerStates: learner.optimizerStates(),
          rngStates: { tasks: streams.tasks.state(), batches: streams.batches.state() },
          extra: state as unknown as Record<string, unknown>,
        }, { beforeRename: () => hooks?.at({ point: 'checkpoint-write', phase, iteration }) });
      },
    }, `look at --learning-rate (${config.learningRate}), --meta-step (${config.metaStep}) and --inner-iters (${config.innerIters})`);
  } finally {
    progress.stop();
  }
  const wallSeconds = elapsed();
  const trainingSeconds = wallSeconds - state.evalSeconds;
  const evaluation = await benchmark.evaluateFinal(learner.params);
  return { algorithm: learner.algorithm, wallSeconds, trainingSeconds, metaItersPerSecond: config.metaIters / trainingSeconds, eval: evaluation };
}

