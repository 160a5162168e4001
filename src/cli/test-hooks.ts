/**
 * Test hooks of `reptile train`, for tests only (docs/cli.md, "Test hooks"): read from the
 * environment here, by the command line, and handed to the job as explicit options (the library
 * reads no environment). They kill the run with SIGKILL, or hold it until a file appears, at a
 * named point, and make worker thread 1 throw on its n-th request, so that a test reaches an
 * exact moment of a run without watching the clock.
 *
 *   REPTILE_TEST_KILL_AT=<point>[,<point>...]    SIGKILL at the first of these points reached
 *   REPTILE_TEST_PAUSE_AT=<point>[,<point>...]   wait at each until REPTILE_TEST_PAUSE_FILE
 *   REPTILE_TEST_PAUSE_FILE=<path>               exists, then remove it and go on
 *   REPTILE_TEST_WORKER_THROW=<n>                worker thread 1 throws in its n-th request
 *   REPTILE_TEST_BROKER_DUPLICATE=<i>            --broker: meta-iteration i's chunks are queued twice
 *
 * A point is `training:<phase>:<i>` (after meta-iteration i), `evaluation:<phase>:<i>` (after the
 * periodic evaluation at i is in metrics.jsonl, before i's checkpoint), `checkpoint-write:<phase>:<i>`
 * (during the checkpoint write at i: the temporary file written, not yet renamed) or
 * `model-export` (after the algorithm's model is exported, before the baseline phase); `<phase>`
 * is 0 (the algorithm), 1 (the baseline) or the phase's algorithm name.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { UsageError } from './errors.js';
import { due } from '../train/meta-train.js';

export const ITERATION_POINTS = ['training', 'evaluation', 'checkpoint-write'] as const;
type IterationPoint = (typeof ITERATION_POINTS)[number];

/** A point of a run that the job reports to its hooks. */
export type HookPoint = { point: IterationPoint; phase: number; iteration: number } | { point: 'model-export' };

/** A point as written in the environment (its phase maybe a name, resolved against the run's phases). */
interface PointSpec {
  text: string;
  point: HookPoint['point'];
  phase?: string;
  iteration?: number;
}

/** The hooks the environment asks for, parsed (see the module comment). */
export interface TestHookSpec {
  kill: PointSpec[];
  pause: PointSpec[];
  pauseFile?: string;
  /** Worker thread 1 throws in its n-th request. */
  workerThrow?: number;
  /** --broker: the chunks of this meta-iteration (counted from 1 in the session) are queued twice. */
  brokerDuplicateAt?: number;
}

const SYNTAX = 'training:<phase>:<iteration>, evaluation:<phase>:<iteration>, checkpoint-write:<phase>:<iteration> or model-export (a test hook, docs/cli.md)';

function parsePoints(name: string, value: string): PointSpec[] {
  return value.split(',').map((text) => {
    const bad = () => new UsageError(`${name}=${value}: '${text}' is not a point; expected ${SYNTAX}`);
    const parts = text.split(':');
    if (parts.length === 1 && parts[0] === 'model-export') return { text, point: 'model-export' };
    if (parts.length !== 3 || !(ITERATION_POINTS as readonly string[]).includes(parts[0]) || parts[1] === '' || !/^[1-9]\d*$/.test(parts[2])) throw bad();
    return { text, point: parts[0] as IterationPoint, phase: parts[1], iteration: Number(parts[2]) };
  });
}

/** The test hooks set in `env` (empty values count as unset); a malformed value is a usage error. */
export function testHooksFromEnv(env: NodeJS.ProcessEnv = process.env): TestHookSpec {
  const get = (name: string) => (env[name] ? env[name] : undefined);
  const kill = get('REPTILE_TEST_KILL_AT');
  const pause = get('REPTILE_TEST_PAUSE_AT');
  const pauseFile = get('REPTILE_TEST_PAUSE_FILE');
  const workerThrow = get('REPTILE_TEST_WORKER_THROW');
  const brokerDuplicate = get('REPTILE_TEST_BROKER_DUPLICATE');
  if (brokerDuplicate !== undefined && !/^[1-9]\d*$/.test(brokerDuplicate)) throw new UsageError(`REPTILE_TEST_BROKER_DUPLICATE=${brokerDuplicate}: expected a meta-iteration >= 1 (a test hook, docs/cli.md)`);
  if (pause && !pauseFile) throw new UsageError(`REPTILE_TEST_PAUSE_AT=${pause} needs REPTILE_TEST_PAUSE_FILE=<path>: the file whose appearance ends each pause`);
  if (workerThrow !== undefined && !/^[1-9]\d*$/.test(workerThrow)) throw new UsageError(`REPTILE_TEST_WORKER_THROW=${workerThrow}: expected a request number >= 1 (a test hook, docs/cli.md)`);
  return {
    kill: kill ? parsePoints('REPTILE_TEST_KILL_AT', kill) : [],
    pause: pause ? parsePoints('REPTILE_TEST_PAUSE_AT', pause) : [],
    ...(pause ? { pauseFile } : {}),
    ...(workerThrow ? { workerThrow: Number(workerThrow) } : {}),
    ...(brokerDuplicate ? { brokerDuplicateAt: Number(brokerDuplicate) } : {}),
  };
}

/** What the hooks are checked against: the run's phases and intervals. */
export interface HookedRun {
  phases: readonly string[];
  metaIters: number;
  evalInterval: number;
  checkpointInterval: number;
  workers: number;
  metaBatch: number;
}

/** The hooks as the job calls them. */
export interface TrainHooks {
  /** Called at every point of the run; kills the process or pauses where the hooks say. */
  at(point: HookPoint): Promise<void>;
  /** Worker thread 1 throws in its n-th request. */
  workerThrow?: number;
  /** --broker: the chunks of this meta-iteration are queued twice. */
  brokerDuplicateAt?: number;
}

/**
 * The hooks of `spec` for a run, or undefined for none. A point the run never reaches (no such
 * phase, an iteration past the end or not an evaluation or checkpoint point, a worker hook
 * without a worker thread) is a usage error: a test would otherwise wait for nothing.
 */
export function trainHooks(spec: TestHookSpec, run: HookedRun, log: (line: string) => void): TrainHooks | undefined {
  if (spec.kill.length === 0 && spec.pause.length === 0 && spec.workerThrow === undefined && spec.brokerDuplicateAt === undefined) return undefined;
  const resolve = (name: string) => (p: PointSpec): HookPoint => {
    const unreachable = (why: string) => new UsageError(`${name}=${p.text}: ${why}, so the run never reaches it`);
    if (p.point === 'model-export') {
      if (run.phases.length < 2) throw unreachable('the model export is followed by no baseline phase (--baseline none)');
      return { point: 'model-export' };
    }
    const phase = /^\d+$/.test(p.phase!) ? Number(p.phase) : run.phases.indexOf(p.phase!);
    if (phase < 0 || phase >= run.phases.length) throw unreachable(`the run's phases are ${run.phases.map((a, i) => `${i} (${a})`).join(', ')}`);
    const i = p.iteration!;
    if (i > run.metaIters) throw unreachable(`each phase has ${run.metaIters} meta-iterations`);
    if (p.point === 'evaluation' && !due(i, run.evalInterval, run.metaIters)) throw unreachable(`there is no evaluation at iteration ${i} (--eval-interval ${run.evalInterval})`);
    if (p.point === 'checkpoint-write' && !due(i, run.checkpointInterval, run.metaIters)) throw unreachable(`there is no checkpoint at iteration ${i} (--checkpoint-interval ${run.checkpointInterval})`);
    return { point: p.point, phase, iteration: i };
  };
  const kill = spec.kill.map(resolve('REPTILE_TEST_KILL_AT'));
  const pause = spec.pause.map(resolve('REPTILE_TEST_PAUSE_AT'));
  if (spec.workerThrow !== undefined && !(run.phases.includes('reptile') && run.workers >= 2 && run.metaBatch >= 2)) {
    throw new UsageError(`REPTILE_TEST_WORKER_THROW=${spec.workerThrow}: no worker thread adapts tasks in this run (it needs Reptile with --workers >= 2 and --meta-batch >= 2)`);
  }
  const same = (a: HookPoint, b: HookPoint) => a.point === b.point && (a.point === 'model-export' || (b.point !== 'model-export' && a.phase === b.phase && a.iteration === b.iteration));
  const describe = (p: HookPoint) => (p.point === 'model-export' ? p.point : `${p.point}:${p.phase}:${p.iteration}`);
  return {
    async at(point) {
      if (pause.some((p) => same(p, point))) {
        log(`test hook: paused at ${describe(point)} until ${spec.pauseFile} exists`);
        while (!existsSync(spec.pauseFile!)) await new Promise((r) => setTimeout(r, 10));
        await rm(spec.pauseFile!, { force: true });
      }
      if (kill.some((p) => same(p, point))) process.kill(process.pid, 'SIGKILL');
    },
    ...(spec.workerThrow !== undefined ? { workerThrow: spec.workerThrow } : {}),
    ...(spec.brokerDuplicateAt !== undefined ? { brokerDuplicateAt: spec.brokerDuplicateAt } : {}),
  };
}
