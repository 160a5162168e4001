/**
 * The flags of `reptile train`, their per-benchmark defaults, and their resolution into one
 * complete configuration (recorded verbatim in config.json). Flag names follow
 * openai/supervised-reptile.
 */
import { Option } from 'commander';
import { BACKENDS } from '../core/backend.js';
import { defaultWorkerCount } from '../parallel/worker-pool.js';
import { INIT_SCHEMES } from '../nn/init.js';
import { integer, integerList, paramScales, real } from './parse.js';
import { UsageError } from './errors.js';
import { PRESETS } from './presets.js';
import { TEXT_FLAGS, withTextDefaults, type SharedFlagSpec } from './text-options.js';
import { checkAlgorithmSettings, fomlAlgorithm } from './algorithm-options.js';
import {
  ACTIVATIONS, ALGORITHMS, BASELINES, BENCHMARKS, CHANNELS, EVAL_SPLITS, INNER_LOOPS, INNER_OPTIMIZERS, META_OPTIMIZERS, MODELS, OMNIGLOT_SPLITS,
  type Benchmark, type FlagSpec, type Key, type TextBenchmark, type TrainConfig,
} from './config.js';

type OtherBenchmark = Exclude<Benchmark, TextBenchmark>;
const same = <T extends TrainConfig[Key]>(value: T): Record<OtherBenchmark, T> => ({ sine: value, omniglot: value, images: value });
/** Per-benchmark defaults; `images` (your own image folders) defaults to Omniglot's unless given (an `undefined` given for it counts as not given). */
const per = <T extends TrainConfig[Key]>(sine: T | undefined, omniglot: T | undefined, images: T | undefined = omniglot): Record<OtherBenchmark, T | undefined> => ({ sine, omniglot, images });

/**
 * The flags every benchmark family shares, in --help's order. Sine defaults are the Reptile
 * paper's sine demo (Figure 1); Omniglot defaults are openai/supervised-reptile's 5-way 1-shot
 * setting (the paper's hyperparameters); image-folder defaults are its Mini-ImageNet 5-way 1-shot
 * setting; the text benchmarks' are added by withTextDefaults. `undefined`: the flag does not
 * apply. Each description is one line; docs/cli.md explains the flags at length.
 */
const SHARED_FLAGS: readonly SharedFlagSpec[] = [
  { key: 'algorithm', flags: '--algorithm <name>', description: 'meta-learning algorithm', choices: ALGORITHMS, defaults: same('reptile') },
  { key: 'baseline', flags: '--baseline <name>', description: 'also train this baseline at the same budget and compare', choices: BASELINES, defaults: per('joint', 'none') },
  { key: 'seed', flags: '--seed <n>', description: 'seed for initialisation, task sampling and minibatch order', parse: integer(0, 2 ** 31 - 1), defaults: same(0) },
  { key: 'classes', flags: '--classes <n>', description: 'N: classes per task (N-way)', parse: integer(2), defaults: per(undefined, 5) },
  { key: 'metaIters', flags: '--meta-iters <n>', description: 'meta-iterations (outer updates)', parse: integer(1), defaults: per(30000, 100000) },
  { key: 'metaStep', flags: '--meta-step <eps>', description: 'outer step size at the start', parse: real(0), defaults: per(0.1, 1) },
  { key: 'metaStepFinal', flags: '--meta-step-final <eps>', description: 'outer step size at the end (linear annealing)', parse: real(0), defaults: same(0) },
  { key: 'metaBatch', flags: '--meta-batch <n>', description: 'tasks per meta-iteration', parse: integer(1), defaults: per(1, 5) },
  { key: 'metaOptimizer', flags: '--meta-optimizer <name>', description: 'outer update: interpolation, or an optimizer fed theta - mean(phi) with the meta-step as rate', choices: META_OPTIMIZERS, defaults: same('interpolate') },
  { key: 'innerIters', flags: '--inner-iters <n>', description: 'inner steps per task', parse: integer(1), defaults: per(5, 5, 8) },
  { key: 'innerBatch', flags: '--inner-batch <n>', description: 'examples per inner minibatch', parse: integer(1), defaults: per(10, 10) },
  { key: 'learningRate', flags: '--learning-rate <lr>', description: 'inner learning rate (training and evaluation)', parse: real(0, Infinity, { minExclusive: true }), defaults: per(0.02, 0.001) },
  { key: 'innerOptimizer', flags: '--inner-optimizer <name>', description: 'inner optimizer (--sgd is short for sgd)', choices: INNER_OPTIMIZERS, defaults: per('sgd', 'adam') },
  { key: 'momentum', flags: '--momentum <m>', description: 'momentum of the inner SGD', parse: real(0, 0.999999), defaults: same(0) },
  { key: 'adamBeta1', flags: '--adam-beta1 <b>', description: "inner Adam's beta1 (the paper: 0)", parse: real(0, 0.999999), defaults: same(0) },
  { key: 'adamBeta2', flags: '--adam-beta2 <b>', description: "inner Adam's beta2", parse: real(0, 0.999999), defaults: same(0.999) },
  { key: 'innerRateScale', flags: '--inner-rate-scale <name=scale,...>', description: 'meta-training inner loop only: multiply the rate of the named parameters, e.g. embedding/kernel=0.1', parse: paramScales, defaults: same('') },
  { key: 'metaStepScale', flags: '--meta-step-scale <name=scale,...>', description: "reptile's interpolation only: multiply the meta-step of the named parameters, e.g. embedding/kernel=10", parse: paramScales, defaults: same('') },
  { key: 'freshInnerState', flags: '--fresh-inner-state', description: 'reset the inner optimizer state for every task (the original keeps it)', defaults: same(false) },
  { key: 'workers', flags: '--workers <n>', description: "threads adapting a meta-batch's tasks, one per core by default (0: serial, chaining the inner state as the original)", parse: integer(0, 256), defaults: same(defaultWorkerCount()) },
  { key: 'innerLoop', flags: '--inner-loop <kind>', description: "fused: a task's inner steps in one kernel call where one applies (MLP, the conv CNNs); tfjs: TensorFlow.js everywhere", choices: INNER_LOOPS, defaults: same('fused') },
  { key: 'fomlTail', flags: '--foml-tail <n>', description: 'fomaml, maml: n examples per class held apart for the final minibatch (0: the last inner minibatch)', parse: integer(0), defaults: same(0) },
  { key: 'trainShots', flags: '--train-shots <n>', description: 'examples per class (sine: grid points) in a meta-training task', parse: integer(1), defaults: per(50, 10, 15) },
  { key: 'shots', flags: '--shots <n>', description: 'examples per class (sine: points) given at evaluation', parse: integer(1), defaults: per(10, 1) },
  { key: 'transductive', flags: '--transductive', description: 'evaluate all queries in one batch (batch norm sees them together)', defaults: per(undefined, false) },
  { key: 'evalBatch', flags: '--eval-batch <n>', description: 'minibatch size when adapting at evaluation (0: the whole support set)', parse: integer(0), defaults: per(10, 5) },
  { key: 'evalIters', flags: '--eval-iters <n>', description: 'adaptation steps at evaluation', parse: integer(0), defaults: per(32, 50) },
  { key: 'evalSamples', flags: '--eval-samples <n>', description: 'tasks in the final evaluation', parse: integer(1), defaults: per(1000, 10000) },
  { key: 'evalInterval', flags: '--eval-interval <n>', description: 'evaluate every n meta-iterations (0: only at the end)', parse: integer(0), defaults: per(1000, 1000) },
  { key: 'evalIntervalSamples', flags: '--eval-interval-samples <n>', description: 'tasks per periodic evaluation (per split)', parse: integer(1), defaults: per(100, 50) },
  { key: 'checkpointInterval', flags: '--checkpoint-interval <n>', description: 'checkpoint every n meta-iterations for --resume (0: only at the end)', parse: integer(0), defaults: per(1000, 500) },
  { key: 'trainTasks', flags: '--train-tasks <n>', description: "distinct meta-training tasks: a pool drawn once from the run's seed (0: a fresh task every time)", parse: integer(0), defaults: per(0, undefined, undefined) },
  { key: 'trainClasses', flags: '--train-classes <n>', description: 'training classes meta-training uses: the first n of the shuffled split (0: all)', parse: integer(0), defaults: per(undefined, 0, 0) },
  { key: 'evalSplit', flags: '--eval-split <name>', description: 'tasks the evaluations use: test, or validation (what reptile tune selects on)', choices: EVAL_SPLITS, defaults: same('test') },
  { key: 'model', flags: '--model <name>', description: 'the network', choices: MODELS, defaults: per('mlp', 'conv', 'conv-miniimagenet') },
  { key: 'init', flags: '--init <scheme>', description: 'initialiser: tensorflow (Glorot-uniform, as supervised-reptile) or pytorch (Kaiming-uniform)', choices: INIT_SCHEMES, defaults: per('pytorch', 'tensorflow') },
  { key: 'activation', flags: '--activation <fn>', description: 'hidden activation of the MLP', choices: ACTIVATIONS, defaults: per('tanh', 'relu') },
  { key: 'hidden', flags: '--hidden <sizes>', description: 'hidden layer widths of the MLP, comma-separated', parse: integerList(1), defaults: same([64, 64]) },
  { key: 'modelFile', flags: '--model-file <path>', description: "train your own network: a tfjs-layers or Keras model.json (weights beside it), e.g. another run's model/model.json", defaults: same('') },
  { key: 'reinit', flags: '--reinit', description: "with --model-file: fresh weights drawn from --seed instead of the file's", defaults: same(false) },
  { key: 'data', flags: '--data <dir>', description: 'omniglot: its archives or folders (`reptile data omniglot` fetches them); images: <split>/<class>/<image>; text: its folder', defaults: per(undefined, 'data/omniglot', 'data/images') },
  { key: 'split', flags: '--split <name>', description: 'Omniglot class split: reptile (1200 train x 4 rotations / 423 test) or maml (1100 / 100 validation / 423 test)', choices: OMNIGLOT_SPLITS, defaults: per(undefined, 'reptile', undefined) },
  { key: 'splitSeed', flags: '--split-seed <n>', description: 'seed of the class shuffle behind the class split (Omniglot, text), independent of --seed', parse: integer(0, 2 ** 31 - 1), defaults: per(undefined, 0, undefined) },
  { key: 'imageSize', flags: '--image-size <px>', description: 'images are resized to px x px (area average)', parse: integer(4, 512), defaults: per(undefined, undefined, 84) },
  { key: 'channels', flags: '--channels <mode>', description: 'rgb, or grey (luminance)', choices: CHANNELS, defaults: per(undefined, undefined, 'rgb') },
  { key: 'backend', flags: '--backend <name>', description: 'TensorFlow.js backend (auto: node if installed, else wasm)', choices: BACKENDS, defaults: same('auto') },
];

/** Every flag of `reptile train` with its defaults for every benchmark: the shared ones, then the text ones. */
export const FLAGS: readonly FlagSpec[] = [...SHARED_FLAGS.map(withTextDefaults), ...TEXT_FLAGS];

function describeDefault(spec: FlagSpec): string {
  const applies = BENCHMARKS.filter((b) => spec.defaults[b] !== undefined);
  const values = applies.map((b) => JSON.stringify(spec.defaults[b]));
  if (applies.length === BENCHMARKS.length && values.every((v) => v === values[0])) return `default: ${values[0]}`;
  return `default ${applies.map((b, i) => `${b}: ${values[i]}`).join(', ')}`;
}

function flagName(spec: FlagSpec): string {
  return spec.flags.split(' ')[0];
}

/** Commander options for every flag, with the per-benchmark defaults in the help text. */
export function trainOptions(): Option[] {
  const options = FLAGS.map((spec) => {
    const option = new Option(spec.flags, `${spec.description} (${describeDefault(spec)})`);
    if (spec.choices) option.choices(spec.choices);
    if (spec.parse) option.argParser(spec.parse as (value: string, previous: unknown) => unknown);
    return option;
  });
  options.push(new Option('--preset <name>', 'every hyperparameter of a published setting (flags and --config override it)').choices(Object.keys(PRESETS)));
  options.push(new Option('--foml', 'first-order MAML on Reptile\'s loop (as the original\'s --foml): short for --algorithm fomaml'));
  options.push(new Option('--sgd', 'use plain SGD as the inner optimizer (as the original\'s --sgd)'));
  options.push(new Option('--config <file>', 'JSON file of settings (keys as in config.json); flags override it'));
  options.push(new Option('--init-from <file>', 'start from these parameters: a safetensors state_dict with PyTorch names (reptile export; docs/interop.md)'));
  options.push(new Option('--out <dir>', 'run directory (default: runs/<benchmark>-<date>-<time>)'));
  options.push(new Option('--force', 'replace a run already in --out'));
  return options;
}

const KEYS = new Set<string>(FLAGS.map((f) => f.key));

/**
 * Keys that config.json records besides the settings (the run's place, backend and versions):
 * a run's config.json given back as --config is accepted, and these are ignored.
 */
const RECORDED_KEYS = new Set(['classSplit', 'preset', 'benchmark', 'out', 'force', 'backendUsed', 'innerLoopUsed', 'nativeCpuLevel', 'nativeCpuLevelResumed', 'modelSpec', 'packageVersion', 'tfjsVersion', 'nodeVersion', 'platform', 'startedAt', 'command', 'initFrom', 'initFromSha256']);

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
  for (const spec of FLAGS) if (spec.defaults[b] !== undefined) config[spec.key] = spec.defaults[b];
  const presetName = (flags.preset as string | undefined) ?? (fileSettings.preset as string | undefined);
  if (presetName !== undefined) {
    const preset = PRESETS[presetName];
    if (!preset) throw new UsageError(`--preset ${presetName}: allowed: ${Object.keys(PRESETS).join(', ')}`);
    if (preset.benchmark !== b) throw new UsageError(`--preset ${presetName} is for ${preset.benchmark}, not ${b}`);
    Object.assign(config, preset.settings, { preset: presetName });
  }
  for (const [key, value] of Object.entries(fileSettings)) {
    if (RECORDED_KEYS.has(key)) continue;
    if (!KEYS.has(key)) throw new UsageError(`--config: unknown setting '${key}'; allowed: ${[...KEYS].join(', ')}`);
    const spec = FLAGS.find((f) => f.key === key)!;
    if (spec.defaults[b] === undefined) throw new UsageError(`--config: setting '${key}' does not apply to ${b}`);
    config[key] = validateSetting(spec, value);
  }
  for (const spec of FLAGS) {
    if (flags[spec.key] === undefined) continue;
    if (spec.defaults[b] === undefined) throw new UsageError(`${flagName(spec)} does not apply to ${b}; it applies to: ${BENCHMARKS.filter((x) => spec.defaults[x] !== undefined).join(', ')}`);
    config[spec.key] = flags[spec.key];
  }
  if (flags.sgd) config.innerOptimizer = 'sgd';
  if (flags.foml) config.algorithm = fomlAlgorithm(flags.algorithm as string | undefined);
  checkAlgorithmSettings(config as unknown as TrainConfig);
  checkModelFileSettings(config as unknown as TrainConfig, flags);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  config.out = (flags.out as string | undefined) ?? `runs/${b}-${stamp}`;
  config.force = Boolean(flags.force);
  // --init-from is a file, not a hyperparameter; a run's config.json given as --config brings its own.
  const initFrom = (flags.initFrom as string | undefined) ?? (typeof fileSettings.initFrom === 'string' ? fileSettings.initFrom : undefined);
  if (initFrom !== undefined) config.initFrom = initFrom;
  return config as unknown as TrainConfig;
}

/** --reinit needs --model-file, and the network flags do not apply to one (its architecture is the file's). */
function checkModelFileSettings(config: TrainConfig, flags: Record<string, unknown>): void {
  if (config.reinit && !config.modelFile) throw new UsageError('--reinit applies to --model-file only: give --model-file PATH, or drop --reinit');
  if (!config.modelFile) return;
  const network = FLAGS.filter((f) => ['model', 'hidden', 'activation', 'init', 'embeddingDim'].includes(f.key) && flags[f.key] !== undefined);
  if (network.length > 0) throw new UsageError(`--model-file ${config.modelFile} sets the network: drop ${flagName(network[0])}`);
  // Joint training on classification pre-trains a copy with one logit per training class, which it builds for the library's own models only.
  const joint = config.algorithm === 'joint' ? '--algorithm joint' : config.baseline === 'joint' ? '--baseline joint' : undefined;
  if (joint && config.benchmark !== 'sine') throw new UsageError(`${joint} on ${config.benchmark} widens the library's own models only, not a --model-file network; allowed baselines: scratch, none`);
}

/** Checks a value from a --config file the way the flag parser would. */
function validateSetting(spec: FlagSpec, value: unknown): unknown {
  const name = flagName(spec);
  try {
    if (spec.choices) {
      if (!spec.choices.includes(String(value))) throw new Error(`allowed: ${spec.choices.join(', ')}`);
      return value;
    }
    if (Object.values(spec.defaults).some((d) => typeof d === 'boolean')) {
      if (typeof value !== 'boolean') throw new Error('expected true or false');
      return value;
    }
    return spec.parse ? spec.parse(Array.isArray(value) ? value.join(',') : String(value)) : value;
  } catch (error) {
    throw new UsageError(`--config: ${name} value ${JSON.stringify(value)} is invalid: ${(error as Error).message}`);
  }
}
