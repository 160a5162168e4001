/**
 * The native CNN kernel's speed by CPU time, without the rest of `npm run bench`: the 1-core peak
 * at the level that runs, then the Omniglot CNN's forward pass and training step (GFLOP/s and % of
 * that peak, as bench/run.ts's pass table) and the Mini-ImageNet CNN's (ms). Each time is the best
 * of `--repeats` calls (bench/native-speed.ts), so other processes on the machine disturb it little.
 *
 *   node dist/bench/pass-times.js [--level avx512] [--repeats 30] [--addon build/Release/fused_native.node]
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nativeKernels, type CpuLevel, type NativeExports } from '../src/kernels/fused-native.js';
import { measurePeak, timeCnnKernel } from './native-speed.js';
import { cnnStepFlops, OMNIGLOT_CNN, type CnnShape } from './cnn-flops.js';

const { values } = parseArgs({ options: { level: { type: 'string' }, repeats: { type: 'string', default: '30' }, addon: { type: 'string' } } });
// --addon: another build of the addon (an older one, to compare), else the package's.
const addon = values.addon ? (createRequire(import.meta.url)(resolve(values.addon)) as NativeExports) : nativeKernels();
if (!addon) throw new Error('the native addon is not built');
if (values.level) addon.set_cpu_level(values.level as CpuLevel);
const repeats = Number(values.repeats);

const peak = measurePeak(addon, 2);
console.log(`level ${peak.level}, 1-core peak ${peak.oneCore.toFixed(1)} GFLOP/s`);
const omniglot = timeCnnKernel(addon, OMNIGLOT_CNN, 5, repeats);
const flops = cnnStepFlops(OMNIGLOT_CNN);
const row = (name: string, flop: number, seconds: number) => {
  const gflops = flop / seconds / 1e9;
  console.log(`omniglot ${name.padEnd(9)} ${(seconds * 1e3).toFixed(3)} ms ${gflops.toFixed(1)} GFLOP/s ${((100 * gflops) / peak.oneCore).toFixed(0)}% of peak`);
};
row('forward', flops.forward, omniglot.forward);
row('backward', flops.backward, omniglot.step - omniglot.forward);
row('step', flops.total, omniglot.step);
// The paper's Mini-ImageNet CNN: 84x84x3, 32 filters, stride 1, every block max-pools; batch 10 (bench/run.ts's inner batch).
const MINI: CnnShape = { height: 84, width: 84, channels: 3, filters: 32, classes: 5, stride: 1, blocks: 4, batch: 10 };
const mini = timeCnnKernel(addon, MINI, 2, Math.max(3, Math.round(repeats / 3)), 0b1111);
console.log(`miniimagenet forward ${(mini.forward * 1e3).toFixed(2)} ms, step ${(mini.step * 1e3).toFixed(2)} ms`);
