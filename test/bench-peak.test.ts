/**
 * What `npm run bench` reads the CNN's speed against: the native addon's attainable-peak loop
 * (native/peak-level.c, native/peak.c) runs at every level this CPU runs, on one thread and on
 * two, and gives a finite positive rate; its arguments are checked; and the analytic FLOP count of
 * a training step (bench/cnn-flops.ts) equals a count made by hand for a tiny network and for the
 * paper's Omniglot CNN, with the parameter count the kernel itself reports. No timed assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeCpuLevel, nativeKernels } from '../src/kernels/fused-native.js';
import { cnnStepFlops, OMNIGLOT_CNN } from '../bench/cnn-flops.js';
import { nativeLevels, runNativeAt } from './support/native-levels.js';

const LEVELS = nativeLevels();

for (const { level, label, skip } of LEVELS) {
  test(`${label}: the peak loop gives a finite positive GFLOP/s on one thread and on two`, { skip }, () => {
    const chosen = nativeCpuLevel();
    runNativeAt(level);
    try {
      const addon = nativeKernels()!;
      assert.equal(addon.cpu_level(), level);
      for (const threads of [1, 2]) {
        const gflops = addon.peak_gflops(0.05, threads);
        assert.ok(Number.isFinite(gflops) && gflops > 0, `${threads} thread(s): ${gflops}`);
      }
    } finally {
      runNativeAt(chosen);
    }
  });
}

test('the peak loop refuses a non-positive duration or thread count', { skip: LEVELS[0].skip }, () => {
  const addon = nativeKernels()!;
  assert.throws(() => addon.peak_gflops(0, 1), /peak_gflops: seconds must be in \(0, 600\] and threads in 1\.\.256/);
  assert.throws(() => addon.peak_gflops(0.01, 0), /peak_gflops: /);
});

test('a training step of a tiny CNN: the FLOP count made by hand', () => {
  // 4x4x2 input, 3 filters, stride 2, 2 blocks, 2 classes, 1 example.
  // Block 1: 2x2 outputs, 2*2*9*2*3 = 216 multiply-adds; block 2: 1x1 output, 9*3*3 = 81.
  const f = cnnStepFlops({ height: 4, width: 4, channels: 2, filters: 3, classes: 2, stride: 2, blocks: 2, batch: 1 });
  assert.equal(f.convForward, 2 * (216 + 81));
  assert.equal(f.filterGradient, 2 * (216 + 81));
  assert.equal(f.inputGradient, 2 * 81);
  // 12 + 3 block outputs; batch norm 9 + bias 1 forward, 12 + bias 1 backward per output.
  assert.equal(f.batchNormForward, 10 * 15);
  assert.equal(f.batchNormBackward, 13 * 15);
  // 3 features x 2 classes: forward 12; weight and input gradients 24.
  assert.equal(f.denseForward, 12);
  assert.equal(f.denseBackward, 24);
  // Parameters: (54 + 9) + (81 + 9) + (6 + 2) = 161, Adam 10 FLOP each.
  assert.equal(f.update, 1610);
  assert.equal(f.forward, 594 + 150 + 12);
  assert.equal(f.backward, 594 + 162 + 195 + 24 + 1610);
  assert.equal(f.total, f.forward + f.backward);
});

test("the paper's Omniglot CNN: 26.6 M multiply-adds forward per step of 10 images, and the kernel's parameter count", () => {
  // Per image: 14*14*9*1*64 + 7*7*9*64*64 + 4*4*9*64*64 + 2*2*9*64*64 = 2,656,512 multiply-adds.
  const f = cnnStepFlops(OMNIGLOT_CNN);
  assert.equal(f.convForward, 2 * 10 * 2656512);
  assert.equal(f.inputGradient, 2 * 10 * (2656512 - 14 * 14 * 9 * 64));
  const addon = LEVELS[0].skip ? undefined : nativeKernels();
  if (addon) assert.equal(f.update / 10, addon.cnn_param_count(28, 28, 1, 64, 5, 4, 0b1111, 0));
});
