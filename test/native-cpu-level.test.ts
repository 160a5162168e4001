/**
 * The native addon's instruction-set levels (native/cnn-level.c, src/kernels/fused-native.ts):
 * every level this CPU runs computes the kernel's numbers to float32 rounding of each other, the
 * FMA levels really differ from the baseline's rounding (so switching levels switches the code),
 * REPTILE_CPU forces a level in a fresh process and is refused in one line when the value is
 * unknown or the CPU lacks the level, and config.json records the level a CNN run used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { paramsToHostSync, type HostParams } from '../src/core/params.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy, lossSpec } from '../src/nn/losses.js';
import { adam } from '../src/nn/optimizers.js';
import { minibatchIndices } from '../src/tasks/task.js';
import { FusedCnn } from '../src/kernels/fused-cnn.js';
import { CPU_LEVELS, cpuLevelRefusal, nativeCpuLevel } from '../src/kernels/fused-native.js';
import { nativeCpuLevelUsed, resumedCpuLevel } from '../src/cli/cpu-level.js';
import { nativeLevels, runNativeAt } from './support/native-levels.js';
import { assertOneLineUsageError, runCli } from './support/cli.js';

await useBackend('cpu');

const LEVELS = nativeLevels();
const skip = LEVELS[0].skip;
const levels = LEVELS.map((l) => l.level!);

test('REPTILE_CPU: unset or a level the CPU runs is accepted; an unknown value or a level the CPU lacks is refused in one line', () => {
  assert.equal(cpuLevelRefusal(undefined, ['baseline']), undefined);
  assert.equal(cpuLevelRefusal('', ['baseline']), undefined);
  assert.equal(cpuLevelRefusal('avx2', ['baseline', 'avx2']), undefined);
  assert.equal(cpuLevelRefusal('sse9', ['baseline']), 'REPTILE_CPU=sse9: unknown level; allowed: baseline, avx2, avx512');
  assert.equal(cpuLevelRefusal('avx512', ['baseline', 'avx2']), 'REPTILE_CPU=avx512: this CPU (or this build of the addon) lacks it; it runs baseline, avx2');
  assert.match(cpuLevelRefusal('avx2', undefined)!, /^REPTILE_CPU=avx2 forces a level of the native addon, which is /);
  assert.deepEqual([...CPU_LEVELS], ['baseline', 'avx2', 'avx512']);
});

/** The Omniglot CNN adapted 5 Adam steps on one random task at `level`. */
function adaptedAt(level: (typeof levels)[number]): HostParams {
  runNativeAt(level);
  assert.equal(nativeCpuLevel(), level);
  const model = conv({ variant: 'omniglot', classes: 5, inputShape: [28, 28, 1], filters: 64 });
  const rng = Rng.fromSeed(3);
  const theta = paramsToHostSync(model.init(rng.fork()));
  const optimizer = adam({ learningRate: 0.001, beta1: 0 });
  const fused = FusedCnn.create(model.spec, lossSpec(crossEntropy()), optimizer, 1, { native: true, wasm: false })!;
  const count = 10;
  const job = { count, x: Float32Array.from({ length: count * 784 }, () => rng.uniform(0, 1)), y: Int32Array.from({ length: count }, (_, i) => i % 5), batches: minibatchIndices(count, 10, 5, rng) };
  return fused.adapt(theta, undefined, job).phi;
}

test('every level this CPU runs adapts to the numbers of the others (float32 rounding), and the FMA levels round differently from the baseline', { skip }, () => {
  const results = levels.map((level) => adaptedAt(level));
  const [first] = results;
  results.forEach((r, i) =>
    r.values.forEach((v, k) => {
      if (/^conv\d+\/bias$/.test(r.names[k])) return; // rounding noise under Adam (kernels-fused-cnn.test.ts)
      v.forEach((x, j) => assert.ok(Math.abs(x - first.values[k][j]) <= 1e-4 * Math.max(1, Math.abs(first.values[k][j])), `${levels[i]} vs ${levels[0]}: ${r.names[k]}[${j}] ${x} vs ${first.values[k][j]}`));
    }),
  );
  const baseline = levels.indexOf('baseline');
  for (const fma of ['avx2', 'avx512'] as const) {
    const i = levels.indexOf(fma);
    if (baseline < 0 || i < 0) continue;
    assert.notDeepEqual(results[i].values, results[baseline].values, `${fma} runs its own code: fused multiply-adds round differently from the baseline's`);
  }
  runNativeAt(levels[levels.length - 1]);
});

/** What a fresh process with REPTILE_CPU=value reports (the level, or the refusal). */
function childReport(value: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import('${new URL('../src/kernels/fused-native.js', import.meta.url).href}').then((m) => { try { m.nativeKernels(); console.log(m.nativeCpuLevel()); } catch (e) { console.error(e.message); process.exitCode = 3; } })`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, REPTILE_CPU: value }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test('REPTILE_CPU forces each level the CPU runs in a fresh process; an unknown one is refused when the addon is used', { skip }, () => {
  for (const level of levels) assert.deepEqual(childReport(level), { status: 0, stdout: level, stderr: '' }, `REPTILE_CPU=${level}`);
  assert.deepEqual(childReport('avx1024'), { status: 3, stdout: '', stderr: 'REPTILE_CPU=avx1024: unknown level; allowed: baseline, avx2, avx512' });
  const lacking = CPU_LEVELS.filter((l) => !levels.includes(l));
  for (const level of lacking) assert.match(childReport(level).stderr, new RegExp(`^REPTILE_CPU=${level}: this CPU \\(or this build of the addon\\) lacks it; it runs ${levels.join(', ')}$`));
});

test('reptile with a bad REPTILE_CPU: exit 2, one line naming the allowed levels, no run directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'reptile-cpu-level-'));
  try {
    const out = join(root, 'run');
    const r = await runCli(['train', 'sine', '--meta-iters', '1', '--out', out], { env: { REPTILE_CPU: 'fast', REPTILE_DEBUG: '' } });
    assertOneLineUsageError(r, ['REPTILE_CPU=fast', 'allowed: baseline, avx2, avx512'], 'REPTILE_CPU=fast');
    assert.equal(existsSync(out), false, 'no run directory');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('config.json records the level where the native CNN kernel runs, and nothing where it does not', { skip }, () => {
  runNativeAt(levels[0]);
  assert.deepEqual(nativeCpuLevelUsed({ training: 'fused-cnn-native', evaluation: 'fused-cnn-native' }), { nativeCpuLevel: levels[0] });
  assert.deepEqual(nativeCpuLevelUsed({ training: 'tfjs', evaluation: 'fused-cnn-native' }), { nativeCpuLevel: levels[0] });
  assert.deepEqual(nativeCpuLevelUsed({ training: 'fused-mlp', evaluation: 'fused-mlp' }), {});
  assert.deepEqual(nativeCpuLevelUsed({ training: 'fused-cnn-wasm', evaluation: 'tfjs' }), {});
  runNativeAt(levels[levels.length - 1]);
});

test('a resumed session on another level is added to config.json; the same level, or no native kernel, adds nothing', () => {
  const at = { phase: 0, iteration: 500 };
  assert.equal(resumedCpuLevel({ nativeCpuLevel: 'avx512' }, { nativeCpuLevel: 'avx512' }, at), undefined);
  assert.equal(resumedCpuLevel({}, {}, at), undefined);
  assert.deepEqual(resumedCpuLevel({ nativeCpuLevel: 'avx512' }, { nativeCpuLevel: 'avx2' }, at), { nativeCpuLevelResumed: [{ phase: 0, iteration: 500, level: 'avx2' }] });
  const moved = { nativeCpuLevel: 'avx512' as const, nativeCpuLevelResumed: [{ phase: 0, iteration: 500, level: 'avx2' as const }] };
  // Compared with the last level that ran, not the first.
  assert.equal(resumedCpuLevel(moved, { nativeCpuLevel: 'avx2' }, { phase: 0, iteration: 900 }), undefined);
  assert.deepEqual(resumedCpuLevel(moved, { nativeCpuLevel: 'avx512' }, { phase: 1, iteration: 0 })?.nativeCpuLevelResumed.at(-1), { phase: 1, iteration: 0, level: 'avx512' });
});
