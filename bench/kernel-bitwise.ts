/**
 * A bit-for-bit check of the native CNN kernel against an earlier build of itself, for changes
 * that must not change a single bit of its results (loop orders, cache blocking, prefetching).
 * For a fixed set of architectures of the block family and fixed seeds, at every level this CPU
 * runs and in the checked-in WebAssembly build (src/kernels/fused-cnn-wasm.ts), it calls cnn_adapt (a few Adam and momentum steps) and cnn_predict on random inputs and
 * keeps their outputs' bytes: the loss, the parameters and optimizer slots after the steps, the
 * logits.
 *
 *   node dist/bench/kernel-bitwise.js --dump /tmp/kernel-ref      (with the build to compare against)
 *   node dist/bench/kernel-bitwise.js --compare /tmp/kernel-ref   (with the new build; exit 1 on any difference)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NativeMemory, nativeKernels } from '../src/kernels/fused-native.js';
import { FUSED_CNN_MODULE, wasmMemory, type KernelMemory } from '../src/kernels/fused-wasm.js';
import { Rng } from '../src/core/rng.js';
import { allocator } from './native-speed.js';

interface Case {
  name: string;
  H: number; W: number; C: number; F: number; classes: number; blocks: number; stride2: number; pools: number;
  /** Examples per step, examples in x, steps. */
  batch: number; count: number; steps: number;
}

const CASES: Case[] = [
  // The paper's Omniglot CNN (the bench's shape).
  { name: 'omniglot', H: 28, W: 28, C: 1, F: 64, classes: 5, blocks: 4, stride2: 15, pools: 0, batch: 10, count: 25, steps: 3 },
  // The paper's Mini-ImageNet CNN (max-pools, RGB input, 32 filters: narrow column blocks; more pixels than a filter-gradient chunk).
  { name: 'miniimagenet', H: 84, W: 84, C: 3, F: 32, classes: 5, blocks: 4, stride2: 0, pools: 15, batch: 4, count: 6, steps: 2 },
  // Odd sizes, mixed strides and pools, 48 filters (a block of 3 vectors at AVX-512), 5 input channels.
  { name: 'odd-48', H: 13, W: 11, C: 5, F: 48, classes: 3, blocks: 3, stride2: 0b101, pools: 0b010, batch: 3, count: 5, steps: 3 },
  // The widest filters (256), tiny images.
  { name: 'wide-256', H: 9, W: 7, C: 2, F: 256, classes: 4, blocks: 2, stride2: 0b10, pools: 0b11, batch: 2, count: 3, steps: 2 },
  // One block of one vector of filters, 7 channels.
  { name: 'one-16', H: 5, W: 5, C: 7, F: 16, classes: 2, blocks: 1, stride2: 0, pools: 1, batch: 4, count: 4, steps: 3 },
  // 80 filters (4 + 1 vectors at AVX-512), many input channels, stride 1 then 2.
  { name: 'c64-80', H: 10, W: 10, C: 64, F: 80, classes: 5, blocks: 2, stride2: 0b10, pools: 0, batch: 3, count: 4, steps: 2 },
  // 32 filters at stride 1 without pools on a mid-size image (many row blocks, remainders).
  { name: 'mid-32', H: 23, W: 19, C: 32, F: 32, classes: 5, blocks: 3, stride2: 0b100, pools: 0b001, batch: 5, count: 7, steps: 2 },
];

const { values } = parseArgs({ options: { dump: { type: 'string' }, compare: { type: 'string' } } });
const dir = values.dump ?? values.compare;
if (!dir || (values.dump && values.compare)) {
  console.error('usage: kernel-bitwise.js --dump DIR | --compare DIR');
  process.exit(2);
}
const addon = nativeKernels();
if (!addon) throw new Error('the native addon is not built');

/** The kernel's entry points, the addon's (at the level that runs) or the wasm build's, on their memory. */
interface Kernel {
  memory: KernelMemory;
  paramCount(...arch: number[]): number;
  workFloats(...archAndBatch: number[]): number;
  adapt(...args: number[]): number;
  predict(...args: number[]): void;
}

function nativeKernel(): Kernel {
  const memory = new NativeMemory();
  return {
    memory,
    paramCount: (...a) => addon!.cnn_param_count(...a),
    workFloats: (...a) => addon!.cnn_work_floats(...a),
    adapt: (...a) => addon!.cnn_adapt(memory.buffer(), ...a),
    predict: (...a) => addon!.cnn_predict(memory.buffer(), ...a),
  };
}

function wasmKernel(): Kernel {
  type Exports = { cnn_adapt(...a: number[]): number; cnn_predict(...a: number[]): void; cnn_param_count(...a: number[]): number; cnn_work_floats(...a: number[]): number };
  const exports = FUSED_CNN_MODULE.instance<Exports & Parameters<typeof wasmMemory>[0]>();
  if (!exports) throw new Error('the wasm build does not compile here');
  return { memory: wasmMemory(exports), paramCount: exports.cnn_param_count, workFloats: exports.cnn_work_floats, adapt: exports.cnn_adapt, predict: exports.cnn_predict };
}

/** The outputs' bytes of one case: every call's results, concatenated. */
function run(kernel: Kernel, c: Case, seed: number, kind: number, loss: number): Uint8Array {
  const dims = [c.H, c.W, c.C, c.F, c.classes, c.blocks, c.stride2, c.pools] as const;
  const P = kernel.paramCount(...dims);
  if (P === 0) throw new Error(`${c.name}: the kernel refuses the architecture`);
  const work = Math.max(kernel.workFloats(...dims, c.batch), kernel.workFloats(...dims, c.count));
  const memory = kernel.memory;
  const alloc = allocator(memory);
  const inputs = c.count * c.H * c.W * c.C;
  const at = {
    rates: alloc(c.steps), params: alloc(P), slot1: alloc(P), slot2: alloc(P), x: alloc(inputs),
    labels: alloc(c.count), rows: alloc(c.steps * c.batch), logits: alloc(c.count * c.classes), work: alloc(work),
  };
  const buffer = memory.buffer();
  const rng = Rng.fromSeed(seed);
  const floats = (offset: number, n: number) => new Float32Array(buffer, offset, n);
  const rates = floats(at.rates, c.steps);
  for (let i = 0; i < c.steps; i++) rates[i] = 0.01 / (i + 1);
  const params = floats(at.params, P);
  for (let i = 0; i < P; i++) params[i] = rng.uniform(-0.3, 0.3);
  const x = floats(at.x, inputs);
  for (let i = 0; i < inputs; i++) x[i] = rng.uniform(0, 1);
  const labels = new Int32Array(buffer, at.labels, c.count);
  for (let i = 0; i < c.count; i++) labels[i] = rng.int(c.classes);
  const rows = new Int32Array(buffer, at.rows, c.steps * c.batch);
  for (let i = 0; i < rows.length; i++) rows[i] = rng.int(c.count);
  floats(at.slot1, 2 * P).fill(0);
  const total = kernel.adapt(...dims, loss, kind, at.rates, 0.9, 0.5, 0.999, 1e-8, at.params, at.slot1, at.slot2, at.x, at.labels, at.rows, c.steps, c.batch, at.work, c.count);
  kernel.predict(...dims, at.params, at.x, c.count, at.logits, at.work);
  const parts = [new Float64Array([total]), floats(at.params, P), floats(at.slot1, P), floats(at.slot2, P), floats(at.logits, c.count * c.classes)];
  const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(bytes);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
    o += p.byteLength;
  }
  return out;
}

if (values.dump) mkdirSync(dir, { recursive: true });
let differences = 0;
let compared = 0;
const levels = [...addon.cpu_levels(), 'wasm'];
for (const level of levels) {
  if (level !== 'wasm') addon.set_cpu_level(level as ReturnType<typeof addon.cpu_level>);
  for (const c of CASES)
    for (const [seed, kind, loss] of [[1, 2, 1], [2, 1, 0]]) {
      const file = join(dir, `${level}-${c.name}-${seed}.bin`);
      const got = run(level === 'wasm' ? wasmKernel() : nativeKernel(), c, seed, kind, loss);
      if (values.dump) {
        writeFileSync(file, got);
        continue;
      }
      const want = new Uint8Array(readFileSync(file));
      let bad = got.length === want.length ? 0 : Math.max(got.length, want.length);
      if (bad === 0) for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) bad++;
      compared++;
      if (bad > 0) differences++;
      console.log(`${bad === 0 ? 'same' : 'DIFFERENT'}  ${level} ${c.name} seed ${seed} (${got.length} bytes${bad ? `, ${bad} differ` : ''})`);
    }
}
if (values.dump) console.log(`wrote ${levels.length * CASES.length * 2} files to ${dir}`);
else {
  console.log(`${compared - differences} of ${compared} cases bit-for-bit identical`);
  if (differences > 0) process.exit(1);
}
