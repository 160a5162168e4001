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
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

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
  return { config, implementation: label, msPerMetaIter: Number(r.msPerMetaIter), peakRssMiB: Number(r.peakRssMiB) };
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
  return { config, implementation: `pytorch ${threads} thread${threads > 1 ? 's' : ''}`, msPerMetaIter: Number(r.msPerMetaIter), peakRssMiB: Number(r.peakRssMiB) };
}

const rows: Row[] = [];
const notes: string[] = [];
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

if (values.json) {
  console.log(JSON.stringify({ rows, notes, cores: availableParallelism() }, null, 2));
} else {
  console.log(`Reptile meta-training speed, ${availableParallelism()} cores (ratio: our throughput / PyTorch's best)`);
  console.log('| config | implementation | ms / meta-iteration | meta-iterations / s | ms / inner step | peak RSS MiB | vs PyTorch best |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const best = Math.min(...rows.filter((t) => t.config === r.config && t.implementation.startsWith('pytorch')).map((t) => t.msPerMetaIter));
    const ratio = Number.isFinite(best) ? `${(best / r.msPerMetaIter).toFixed(2)}x` : 'n/a';
    console.log(`| ${r.config} | ${r.implementation} | ${r.msPerMetaIter.toFixed(2)} | ${(1000 / r.msPerMetaIter).toFixed(1)} | ${(r.msPerMetaIter / INNER_STEPS[r.config]).toFixed(3)} | ${r.peakRssMiB.toFixed(0)} | ${ratio} |`);
  }
  notes.forEach((n) => console.log(`note: ${n}`));
}
