/**
 * `npm run bench`: Reptile meta-training speed and peak memory on the three
 * configurations, this project side by side with PyTorch (bench/speed_reference.py: the same
 * shapes, optimizers and the original's Reptile loop) with 1 and 2 threads, in one invocation.
 * Each row runs in a process of its own (bench/speed-case.ts) so its peak RSS is its own.
 *
 *   npm run bench [-- --configs mlp,conv,miniimagenet,sine --workers 0,2 --backends wasm --scale 1 --tfjs --wasm-cnn --before --json]
 *
 * Our rows use the default code path (the fused kernels: the MLP's in wasm SIMD, the CNN's in the
 * native addon); --tfjs adds rows with the TensorFlow.js inner loop (--inner-loop tfjs),
 * --wasm-cnn CNN rows with the fused CNN kernel's wasm build (where no addon is built), --before a
 * row with the code path before any speed work (serial, tfjs inner loop, composed optimizer updates).
 *
 * mlp:  the article's 784-64-64-5 MLP, Omniglot 5-way, train-shots 10, inner-batch 10,
 *       inner-iters 5, meta-batch 5, Adam lr 0.001 beta1 0
 * conv: the paper's Omniglot CNN, same settings
 * miniimagenet: the paper's Mini-ImageNet CNN (84x84x3, 32 filters, max-pool), 5-way, train-shots 15,
 *       inner-batch 10, inner-iters 8, meta-batch 5, Adam lr 0.001 beta1 0
 * sine: 1-64-64-1 tanh, the paper's sine settings (meta-batch 1: workers do not apply)
 * PyTorch comes from Debian (apt-get install -y python3-torch libopenblas0-pthread); without it
 * the table has our rows only and says how to install it.
 *
 * With conv and the native addon, it first measures the machine's attainable peak at the level the
 * CNN kernel runs (native/peak.c, on one core and on all) and the kernel's forward pass and training
 * step on one task (bench/native-speed.ts), and gives the CNN rows their GFLOP/s (bench/cnn-flops.ts)
 * as a fraction of that peak. Other processes on the machine lower the wall-clock numbers; the
 * peak and the per-pass times are CPU times, which they disturb less.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { nativeKernels } from '../src/kernels/fused-native.js';
import { cnnStepFlops, OMNIGLOT_CNN } from './cnn-flops.js';
import { measurePeak, timeCnnKernel, type Peak } from './native-speed.js';

const { values } = parseArgs({
  options: {
    configs: { type: 'string', default: 'mlp,conv,miniimagenet,sine' },
    workers: { type: 'string', default: `0,1,${availableParallelism()}` },
    backends: { type: 'string', default: 'wasm' },
    scale: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    // Adds a row per configuration with the code path before the speed work: serial, composed optimizer updates.
    before: { type: 'boolean', default: false },
    // Adds rows with the TensorFlow.js inner loop instead of the fused kernels.
    tfjs: { type: 'boolean', default: false },
    // Adds CNN rows with the fused CNN kernel's WebAssembly build (what runs where the native addon is not built).
    'wasm-cnn': { type: 'boolean', default: false },
    'no-pytorch': { type: 'boolean', default: false },
    // Seconds the attainable peak is measured for, on one core and again on all cores.
    'peak-seconds': { type: 'string', default: '2' },
  },
});

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';
const ITERS: Record<string, number> = { mlp: 500, conv: 50, miniimagenet: 5, sine: 3000 };
const KERNEL_LABELS: Record<string, string> = {
  'fused-mlp': 'fused MLP kernel (wasm SIMD)',
  'fused-cnn-native': 'fused CNN kernel (native)',
  'fused-cnn-wasm': 'fused CNN kernel (wasm SIMD)',
};
const INNER_STEPS: Record<string, number> = { mlp: 25, conv: 25, miniimagenet: 40, sine: 5 };
const scale = Number(values.scale);

interface Row {
  config: string;
  implementation: string;
  msPerMetaIter: number;
  /** CPU time of the whole process (every thread) per meta-iteration; PyTorch's rows do not report it. */
  cpuMsPerMetaIter?: number;
  /** Threads the row computes on: its peak is the one-core peak for 1, the all-core peak for more. */
  threads: number;
  peakRssMiB: number;
}

function runJson(command: string, args: string[]): Record<string, number | string | boolean> {
  const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop()!);
}

type CodePath = 'default' | 'tfjs' | 'before' | 'wasm';

function ours(config: string, backend: string, workers: number, path: CodePath = 'default'): Row {
  // The other paths are several times slower than the fused kernels: fewer iterations.
  const slower = path === 'default' ? 1 : path === 'wasm' ? 3 : 5;
  const iters = Math.max(2, Math.round((ITERS[config] * scale) / slower));
  const flags = ['--fused', String(path !== 'before'), '--fused-loop', String(path === 'default' || path === 'wasm'), '--native', String(path !== 'wasm')];
  const r = runJson(process.execPath, [join(HERE, 'speed-case.js'), '--config', config, '--backend', backend, '--workers', String(workers), '--iters', String(iters), ...flags]);
  const loop = KERNEL_LABELS[String(r.innerLoop)] ?? `tfjs-${r.backend}`;
  const threads = workers === 0 ? ', serial' : r.inThread ? `, --workers ${workers} (in one thread)` : `, ${workers} thread${workers > 1 ? 's' : ''}`;
  const label = `reptile ${loop}${threads}${path === 'before' ? ', composed updates (before)' : ''}`;
  const computeThreads = workers > 1 && !r.inThread ? workers : 1;
  return { config, implementation: label, msPerMetaIter: Number(r.msPerMetaIter), cpuMsPerMetaIter: Number(r.cpuMsPerMetaIter), threads: computeThreads, peakRssMiB: Number(r.peakRssMiB) };
}

function hasTorch(): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function pytorch(config: string, threads: number): Row {
  const iters = Math.max(2, Math.round(ITERS[config] * scale));
  const script = join(HERE, '../../bench/speed_reference.py');
  const r = runJson(PYTHON, [script, '--config', config, '--threads', String(threads), '--meta-iters', String(iters)]);
  return { config, implementation: `pytorch ${threads} thread${threads > 1 ? 's' : ''}`, msPerMetaIter: Number(r.msPerMetaIter), threads, peakRssMiB: Number(r.peakRssMiB) };
}

const rows: Row[] = [];
const notes: string[] = [];

// The CNN's arithmetic per meta-iteration: meta-batch 5 x inner-iters 5 training steps of inner batch 10.
const stepFlops = cnnStepFlops(OMNIGLOT_CNN);
const CONV_FLOP_PER_META_ITER = INNER_STEPS.conv * stepFlops.total;
const addon = values.configs!.split(',').includes('conv') ? nativeKernels() : undefined;
const peak: Peak | undefined = addon ? measurePeak(addon, Number(values['peak-seconds'])) : undefined;
const passes = addon ? timeCnnKernel(addon, OMNIGLOT_CNN, 5, 30) : undefined;
if (values.configs!.split(',').includes('conv') && !addon) notes.push('no native addon: no peak and no GFLOP/s columns (npm run build:native builds it)');
const torch = !values['no-pytorch'] && hasTorch();
if (!values['no-pytorch'] && !torch) notes.push('PyTorch not found: apt-get install -y python3-torch libopenblas0-pthread, then rerun for the side-by-side rows');
for (const config of values.configs!.split(',')) {
  if (!(config in ITERS)) throw new Error(`--configs: unknown configuration '${config}' (allowed: ${Object.keys(ITERS).join(', ')})`);
  for (const backend of values.backends!.split(',')) {
    if (values.before) rows.push(ours(config, backend, 0, 'before'));
    const workerCounts = config === 'sine' ? [0] : values.workers!.split(',').map(Number);
    if (values.tfjs) for (const workers of workerCounts) rows.push(ours(config, backend, workers, 'tfjs'));
    if (values['wasm-cnn'] && (config === 'conv' || config === 'miniimagenet')) for (const workers of workerCounts) rows.push(ours(config, backend, workers, 'wasm'));
    for (const workers of workerCounts) rows.push(ours(config, backend, workers));
  }
  if (torch) for (const threads of [1, 2]) rows.push(pytorch(config, threads));
}

/** GFLOP/s of a CNN row (wall clock), its fraction of the peak for its threads, and of the one-core peak per CPU-second. */
function cnnSpeed(r: Row): { gflops: number; ofPeak?: number; ofPeakCpu?: number } {
  const gflops = CONV_FLOP_PER_META_ITER / r.msPerMetaIter / 1e6;
  if (!peak) return { gflops };
  const ofPeakCpu = r.cpuMsPerMetaIter ? CONV_FLOP_PER_META_ITER / r.cpuMsPerMetaIter / 1e6 / peak.oneCore : undefined;
  return { gflops, ofPeak: gflops / (r.threads > 1 ? peak.allCores : peak.oneCore), ofPeakCpu };
}

const percent = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(0)}%`);
const loadNote = 'other processes on the machine lower the wall-clock columns (ms, GFLOP/s, % of peak); the peak, the pass times and the CPU-time column are CPU times, which they disturb less';

if (values.json) {
  const cnn = rows.filter((r) => r.config === 'conv').map((r) => ({ implementation: r.implementation, ...cnnSpeed(r) }));
  console.log(JSON.stringify({ rows, notes, cores: availableParallelism(), peak, cnnStepFlops: stepFlops, cnnPassSeconds: passes, cnn }, null, 2));
} else {
  if (peak && passes) {
    console.log(`Attainable peak at the CNN kernel's level (${peak.level}; native/peak.c, a multiply-add loop timed by CPU time): 1 core ${peak.oneCore.toFixed(1)} GFLOP/s, ${peak.threads} cores ${peak.allCores.toFixed(1)} GFLOP/s`);
    console.log('');
    console.log(`Fused CNN kernel, one Omniglot task's training step on one thread (batch ${OMNIGLOT_CNN.batch}, Adam; CPU time, best of 30)`);
    console.log('| pass | MFLOP | ms | GFLOP/s | % of 1-core peak |');
    console.log('|---|---|---|---|---|');
    const pass = (name: string, flop: number, seconds: number) =>
      console.log(`| ${name} | ${(flop / 1e6).toFixed(1)} | ${(seconds * 1e3).toFixed(3)} | ${(flop / seconds / 1e9).toFixed(1)} | ${percent(flop / seconds / 1e9 / peak.oneCore)} |`);
    pass('forward: convolutions, batch norm, ReLU, dense (cnn_predict)', stepFlops.forward, passes.forward);
    pass('backward and Adam: filter and input gradients, batch norm (step - forward)', stepFlops.backward, passes.step - passes.forward);
    pass('training step (cnn_adapt)', stepFlops.total, passes.step);
    console.log('');
  }

  console.log(`Reptile meta-training speed, ${availableParallelism()} cores (ratio: our throughput / PyTorch's best)`);
  console.log('| config | implementation | ms / meta-iteration | meta-iterations / s | ms / inner step | peak RSS MiB | vs PyTorch best | GFLOP/s | % of peak | % of 1-core peak per CPU-second |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const best = Math.min(...rows.filter((t) => t.config === r.config && t.implementation.startsWith('pytorch')).map((t) => t.msPerMetaIter));
    const ratio = Number.isFinite(best) ? `${(best / r.msPerMetaIter).toFixed(2)}x` : 'n/a';
    const speed = r.config === 'conv' ? cnnSpeed(r) : undefined;
    const flops = speed ? `${speed.gflops.toFixed(1)} | ${percent(speed.ofPeak)} | ${percent(speed.ofPeakCpu)}` : ' | | ';
    console.log(`| ${r.config} | ${r.implementation} | ${r.msPerMetaIter.toFixed(2)} | ${(1000 / r.msPerMetaIter).toFixed(1)} | ${(r.msPerMetaIter / INNER_STEPS[r.config]).toFixed(3)} | ${r.peakRssMiB.toFixed(0)} | ${ratio} | ${flops} |`);
  }
  if (rows.some((r) => r.config === 'conv')) {
    notes.push(`CNN GFLOP/s: ${(CONV_FLOP_PER_META_ITER / 1e9).toFixed(2)} GFLOP per meta-iteration (bench/cnn-flops.ts); % of peak: of the 1-core peak for rows on one thread, of the all-core peak for more`);
    notes.push(loadNote);
  }
  notes.forEach((n) => console.log(`note: ${n}`));
}
