/**
 * The configuration of `reptile train`: one flat record with one key per flag (config.json
 * records it verbatim, so a run resumes from it), the names each setting chooses from, and the
 * shape of a flag's entry. Types and constants only: this module imports no other CLI module.
 * Which flags exist, with their defaults, is in train-options.ts and text-options.ts; how the
 * groups of settings become the library's option objects is in library-options.ts (docs/cli.md).
 */
import type { BACKENDS } from '../core/backend.js';
import type { INIT_SCHEMES } from '../nn/init.js';

export const TEXT_BENCHMARKS = ['clinc150', 'banking77'] as const;
export type TextBenchmark = (typeof TEXT_BENCHMARKS)[number];
export const isTextBenchmark = (b: string): b is TextBenchmark => (TEXT_BENCHMARKS as readonly string[]).includes(b);

export const BENCHMARKS = ['sine', 'omniglot', 'images', ...TEXT_BENCHMARKS] as const;
export type Benchmark = (typeof BENCHMARKS)[number];

export const ALGORITHMS = ['reptile', 'fomaml', 'maml', 'scratch', 'joint'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const BASELINES = ['joint', 'scratch', 'none'] as const;
export type Baseline = (typeof BASELINES)[number];
export const META_OPTIMIZERS = ['interpolate', 'sgd', 'adam'] as const;
export type MetaOptimizerName = (typeof META_OPTIMIZERS)[number];
export const INNER_OPTIMIZERS = ['sgd', 'adam'] as const;
export const INNER_LOOPS = ['fused', 'tfjs'] as const;
export const EVAL_SPLITS = ['test', 'validation'] as const;
export const MODELS = ['mlp', 'conv', 'conv-miniimagenet', 'embedding-bag', 'weighted-embedding-bag'] as const;
export type ModelName = (typeof MODELS)[number];
export const ACTIVATIONS = ['tanh', 'relu'] as const;
/** Omniglot's class splits (--split). */
export const OMNIGLOT_SPLITS = ['reptile', 'maml'] as const;
export const CHANNELS = ['rgb', 'grey'] as const;
/** The text benchmarks' class splits (--text-split); 'all' is set by cross-dataset evaluation only. */
export const TEXT_SPLITS = ['intents', 'domains'] as const;

export interface TrainConfig {
  benchmark: Benchmark;
  algorithm: Algorithm;
  baseline: Baseline;
  seed: number;
  metaIters: number;
  metaStep: number;
  metaStepFinal: number;
  metaBatch: number;
  metaOptimizer: MetaOptimizerName;
  innerIters: number;
  innerBatch: number;
  learningRate: number;
  innerOptimizer: (typeof INNER_OPTIMIZERS)[number];
  momentum: number;
  adamBeta1: number;
  adamBeta2: number;
  freshInnerState: boolean;
  /** Layer-wise rates of the meta-training inner loop (`name=scale,...`; '' or absent: none). */
  innerRateScale?: string;
  /** Layer-wise meta-steps of Reptile's interpolation (`name=scale,...`; '' or absent: none). */
  metaStepScale?: string;
  workers: number;
  /** fused: the library's MLP (WebAssembly) and CNNs (native addon: the conv block family, both variants) run their inner loops in fused kernels where they apply; tfjs: never. */
  innerLoop: (typeof INNER_LOOPS)[number];
  /** fomaml/maml: examples per class in the final minibatch, held apart (0: none). */
  fomlTail: number;
  /** The published setting applied first, if any. */
  preset?: string;
  /** N-way (classification benchmarks). */
  classes?: number;
  trainShots: number;
  shots: number;
  transductive?: boolean;
  evalBatch: number;
  evalIters: number;
  evalSamples: number;
  evalInterval: number;
  evalIntervalSamples: number;
  checkpointInterval: number;
  /** Sine: distinct meta-training tasks (a pool drawn once; 0: a fresh task every time). */
  trainTasks?: number;
  /** Classification: training classes available (the first n of the split; 0: all). */
  trainClasses?: number;
  /** Which tasks the evaluations use: test, or validation (what `reptile tune` selects on). */
  evalSplit: (typeof EVAL_SPLITS)[number];
  model: ModelName;
  data?: string;
  split?: (typeof OMNIGLOT_SPLITS)[number];
  splitSeed?: number;
  imageSize?: number;
  channels?: (typeof CHANNELS)[number];
  /** Text benchmarks (src/cli/text-options.ts): query examples per class, tokenizer, embedding, intent split. */
  queryShots?: number;
  buckets?: number;
  maxTokens?: number;
  wordNgrams?: number;
  charNgrams?: number[];
  embeddingDim?: number;
  textSplit?: (typeof TEXT_SPLITS)[number] | 'all';
  init: (typeof INIT_SCHEMES)[number];
  activation: (typeof ACTIVATIONS)[number];
  hidden: number[];
  /** A tfjs-layers / Keras model.json whose architecture (and, unless `reinit`, weights) the run trains ('': the --model network). */
  modelFile: string;
  /** With modelFile: fresh weights drawn from the seed instead of the file's. */
  reinit: boolean;
  backend: (typeof BACKENDS)[number];
  /** --init-from: a safetensors state_dict (PyTorch names, docs/interop.md) the meta-parameters start from instead of --init's draw. */
  initFrom?: string;
  /** The sha256 of the --init-from file when the run started (recorded in config.json; --resume checks it). */
  initFromSha256?: string;
  out: string;
  force: boolean;
}

/** The settings that flags set (the benchmark is an argument; --out, --force and --init-from are not settings). */
export type Key = Exclude<keyof TrainConfig, 'benchmark' | 'out' | 'force' | 'initFrom' | 'initFromSha256'>;

/** A flag's entry in the tables of train-options.ts and text-options.ts. */
export interface FlagSpec {
  readonly key: Key;
  readonly flags: string;
  /** One line for --help (the defaults are appended); docs/cli.md explains the flag at length. */
  readonly description: string;
  readonly parse?: (value: string) => unknown;
  readonly choices?: readonly string[];
  /** Default per benchmark (undefined: the flag does not apply to that benchmark). */
  readonly defaults: Readonly<Record<Benchmark, TrainConfig[Key]>>;
}
