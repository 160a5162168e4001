/**
 * The flags of `reptile train`, their per-benchmark defaults, and their resolution into one
 * complete configuration (recorded verbatim in config.json). Flag names follow
 * openai/supervised-reptile.
 */
import { Option } from 'commander';
import { BACKENDS } from '../core/backend.js';
import { INIT_SCHEMES } from '../nn/init.js';
import { integer, integerList, real } from './parse.js';
import { UsageError } from './errors.js';

export const BENCHMARKS = ['sine'] as const;
export type Benchmark = (typeof BENCHMARKS)[number];
export const ALGORITHMS = ['reptile', 'joint'] as const;
export const BASELINES = ['joint', 'none'] as const;
export const META_OPTIMIZERS = ['interpolate', 'sgd', 'adam'] as const;

export interface TrainConfig {
  benchmark: Benchmark;
  algorithm: (typeof ALGORITHMS)[number];
  baseline: (typeof BASELINES)[number];
  seed: number;
  metaIters: number;
  metaStep: number;
  metaStepFinal: number;
  metaBatch: number;
  metaOptimizer: (typeof META_OPTIMIZERS)[number];
  innerIters: number;
  innerBatch: number;
  learningRate: number;
  innerOptimizer: 'sgd' | 'adam';
  momentum: number;
  adamBeta1: number;
  adamBeta2: number;
  freshInnerState: boolean;
  trainShots: number;
  shots: number;
  evalBatch: number;
  evalIters: number;
  evalSamples: number;
  evalInterval: number;
  evalIntervalSamples: number;
  checkpointInterval: number;
  init: (typeof INIT_SCHEMES)[number];
  activation: 'tanh' | 'relu';
  hidden: number[];
  backend: (typeof BACKENDS)[number];
  out: string;
  force: boolean;
}

type Key = Exclude<keyof TrainConfig, 'benchmark' | 'out' | 'force'>;

interface FlagSpec {
  key: Key;
  flags: string;
  description: string;
  parse?: (value: string) => unknown;
  choices?: readonly string[];
  /** Default per benchmark. */
  defaults: Record<Benchmark, TrainConfig[Key]>;
}

const same = <T extends TrainConfig[Key]>(value: T): Record<Benchmark, T> => ({ sine: value });

/** Sine defaults are the Reptile paper's sine demo (Figure 1). */
export const FLAGS: FlagSpec[] = [
  { key: 'algorithm', flags: '--algorithm <name>', description: 'meta-learning algorithm', choices: ALGORITHMS, defaults: same('reptile') },
  { key: 'baseline', flags: '--baseline <name>', description: 'also train this baseline at the same budget and compare', choices: BASELINES, defaults: same('joint') },
  { key: 'seed', flags: '--seed <n>', description: 'seed for initialisation, task sampling and minibatch order', parse: integer(0, 2 ** 31 - 1), defaults: same(0) },
  { key: 'metaIters', flags: '--meta-iters <n>', description: 'meta-iterations (outer updates)', parse: integer(1), defaults: same(30000) },
  { key: 'metaStep', flags: '--meta-step <eps>', description: 'outer step size at the start', parse: real(0), defaults: same(0.1) },
  { key: 'metaStepFinal', flags: '--meta-step-final <eps>', description: 'outer step size at the end (linear annealing)', parse: real(0), defaults: same(0) },
  { key: 'metaBatch', flags: '--meta-batch <n>', description: 'tasks per meta-iteration', parse: integer(1), defaults: same(1) },
  { key: 'metaOptimizer', flags: '--meta-optimizer <name>', description: 'outer update: interpolation, or an optimizer fed theta - mean(phi) with the meta-step as rate', choices: META_OPTIMIZERS, defaults: same('interpolate') },
  { key: 'innerIters', flags: '--inner-iters <n>', description: 'inner steps per task', parse: integer(1), defaults: same(5) },
  { key: 'innerBatch', flags: '--inner-batch <n>', description: 'examples per inner minibatch', parse: integer(1), defaults: same(10) },
  { key: 'learningRate', flags: '--learning-rate <lr>', description: 'inner learning rate (training and evaluation)', parse: real(0, Infinity, { minExclusive: true }), defaults: same(0.02) },
  { key: 'innerOptimizer', flags: '--inner-optimizer <name>', description: 'inner optimizer (--sgd is short for sgd)', choices: ['sgd', 'adam'], defaults: same('sgd') },
  { key: 'momentum', flags: '--momentum <m>', description: 'momentum of the inner SGD', parse: real(0, 0.999999), defaults: same(0) },
  { key: 'adamBeta1', flags: '--adam-beta1 <b>', description: "inner Adam's beta1 (the paper: 0)", parse: real(0, 0.999999), defaults: same(0) },
  { key: 'adamBeta2', flags: '--adam-beta2 <b>', description: "inner Adam's beta2", parse: real(0, 0.999999), defaults: same(0.999) },
  { key: 'freshInnerState', flags: '--fresh-inner-state', description: 'reset the inner optimizer state for every task (the original keeps it)', defaults: same(false) },
  { key: 'trainShots', flags: '--train-shots <n>', description: 'examples per meta-training task (sine: grid points)', parse: integer(1), defaults: same(50) },
  { key: 'shots', flags: '--shots <n>', description: 'examples given at evaluation (sine: points)', parse: integer(1), defaults: same(10) },
  { key: 'evalBatch', flags: '--eval-batch <n>', description: 'minibatch size when adapting at evaluation', parse: integer(1), defaults: same(10) },
  { key: 'evalIters', flags: '--eval-iters <n>', description: 'adaptation steps at evaluation', parse: integer(0), defaults: same(32) },
  { key: 'evalSamples', flags: '--eval-samples <n>', description: 'tasks in the final evaluation', parse: integer(1), defaults: same(1000) },
  { key: 'evalInterval', flags: '--eval-interval <n>', description: 'evaluate every n meta-iterations (0: only at the end)', parse: integer(0), defaults: same(1000) },
  { key: 'evalIntervalSamples', flags: '--eval-interval-samples <n>', description: 'tasks per periodic evaluation', parse: integer(1), defaults: same(100) },
  { key: 'checkpointInterval', flags: '--checkpoint-interval <n>', description: 'write a checkpoint every n meta-iterations (0: only at the end); --resume continues from it', parse: integer(0), defaults: same(1000) },
  { key: 'init', flags: '--init <scheme>', description: "initialiser: tensorflow (Glorot-uniform, zero bias) or pytorch (Kaiming-uniform); sine's default is the paper's sine demo's", choices: INIT_SCHEMES, defaults: same('pytorch') },
  { key: 'activation', flags: '--activation <fn>', description: 'hidden activation', choices: ['tanh', 'relu'], defaults: same('tanh') },
  { key: 'hidden', flags: '--hidden <sizes>', description: 'hidden layer widths, comma-separated', parse: integerList(1), defaults: same([64, 64]) },
  { key: 'backend', flags: '--backend <name>', description: 'TensorFlow.js backend (auto: node if installed, else wasm)', choices: BACKENDS, defaults: same('auto') },
];

function describeDefault(spec: FlagSpec): string {
  return BENCHMARKS.map((b) => `${b}: ${JSON.stringify(spec.defaults[b])}`).join(', ');
}

/** Commander options for every flag, with the per-benchmark defaults in the help text. */
export function trainOptions(): Option[] {
  const options = FLAGS.map((spec) => {
    const option = new Option(spec.flags, `${spec.description} (default ${describeDefault(spec)})`);
    if (spec.choices) option.choices(spec.choices);
    if (spec.parse) option.argParser(spec.parse as (value: string, previous: unknown) => unknown);
    return option;
  });
  options.push(new Option('--sgd', 'use plain SGD as the inner optimizer (as the original\'s --sgd)'));
  options.push(new Option('--config <file>', 'JSON file of settings (keys as in config.json); flags override it'));
  options.push(new Option('--out <dir>', 'run directory (default: runs/<benchmark>-<date>-<time>)'));
  options.push(new Option('--force', 'replace a run already in --out'));
  return options;
}

const KEYS = new Set<string>(FLAGS.map((f) => f.key));

/**
 * Keys that config.json records besides the settings (the run's place, backend and versions):
 * a run's config.json given back as --config is accepted, and these are ignored.
 */
const RECORDED_KEYS = new Set(['benchmark', 'out', 'force', 'backendUsed', 'model', 'packageVersion', 'tfjsVersion', 'nodeVersion', 'platform', 'startedAt', 'command']);

/**
 * The complete configuration: benchmark defaults, then the --config file, then flags.
 * `fileSettings` keys are validated here (unknown keys and bad values are usage errors).
 */
export function resolveTrainConfig(benchmark: string, flags: Record<string, unknown>, fileSettings: Record<string, unknown> = {}): TrainConfig {
  if (!(BENCHMARKS as readonly string[]).includes(benchmark)) {
    throw new UsageError(`unknown benchmark '${benchmark}': allowed: ${BENCHMARKS.join(', ')}`);
  }
  const b = benchmark as Benchmark;
  const config: Record<string, unknown> = { benchmark: b };
  for (const spec of FLAGS) config[spec.key] = spec.defaults[b];
  for (const [key, value] of Object.entries(fileSettings)) {
    if (RECORDED_KEYS.has(key)) continue;
    if (!KEYS.has(key)) throw new UsageError(`--config: unknown setting '${key}'; allowed: ${[...KEYS].join(', ')}`);
    config[key] = validateSetting(FLAGS.find((f) => f.key === key)!, value);
  }
  for (const spec of FLAGS) if (flags[spec.key] !== undefined) config[spec.key] = flags[spec.key];
  if (flags.sgd) config.innerOptimizer = 'sgd';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  config.out = (flags.out as string | undefined) ?? `runs/${b}-${stamp}`;
  config.force = Boolean(flags.force);
  return config as unknown as TrainConfig;
}

/** Checks a value from a --config file the way the flag parser would. */
function validateSetting(spec: FlagSpec, value: unknown): unknown {
  const name = spec.flags.split(' ')[0];
  try {
    if (spec.choices) {
      if (!spec.choices.includes(String(value))) throw new Error(`allowed: ${spec.choices.join(', ')}`);
      return value;
    }
    if (typeof spec.defaults.sine === 'boolean') {
      if (typeof value !== 'boolean') throw new Error('expected true or false');
      return value;
    }
    return spec.parse ? spec.parse(Array.isArray(value) ? value.join(',') : String(value)) : value;
  } catch (error) {
    throw new UsageError(`--config: ${name} value ${JSON.stringify(value)} is invalid: ${(error as Error).message}`);
  }
}
