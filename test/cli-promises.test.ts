/**
 * What the command line promises about how a run computes (README.md's sine table, docs/cli.md
 * "Execution"), checked at the command line on short sine runs with 3 tasks per meta-iteration:
 * - `--workers n` for n >= 1 does not change the numbers: the same summary.json evaluation and
 *   the same model weights, bit for bit, with the worker pool really started (TensorFlow.js inner
 *   loop) and with the fused MLP kernel, which runs in one thread by design;
 * - `--backend cpu` and `--inner-loop tfjs` run to the end, config.json records what ran, and
 *   their numbers agree with the default run's (wasm backend, fused kernel) to float32 rounding.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJson, runOk } from './support/cli.js';

const TINY = ['--meta-iters', '50', '--meta-batch', '3', '--eval-interval', '0', '--eval-samples', '20', '--baseline', 'none', '--checkpoint-interval', '0'];

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-promises-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Run {
  stdout: string;
  config: any;
  summary: any;
  weights: Float32Array;
}

/** Trains `reptile train sine` with TINY and `flags` into its own directory and reads what it wrote. */
async function train(name: string, flags: string[]): Promise<Run> {
  const out = join(root, name);
  const { stdout } = await runOk(['train', 'sine', ...TINY, ...flags, '--out', out]);
  assert.ok(existsSync(join(out, 'summary.json')), `${name}: summary.json`);
  const bytes = await readFile(join(out, 'model', 'weights.bin'));
  return {
    stdout,
    config: await readJson(join(out, 'config.json')),
    summary: await readJson(join(out, 'summary.json')),
    weights: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
  };
}

function assertSameBits(a: Run, b: Run, what: string): void {
  assert.deepEqual(b.summary.eval, a.summary.eval, `${what}: summary.json's evaluation`);
  assert.ok(Buffer.from(a.weights.buffer, a.weights.byteOffset, a.weights.byteLength).equals(Buffer.from(b.weights.buffer, b.weights.byteOffset, b.weights.byteLength)), `${what}: model weights`);
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const relative = (x: number, y: number) => Math.abs(x - y) / Math.abs(y);

describe('--workers n >= 1 gives the same numbers', () => {
  test('TensorFlow.js inner loop: the worker pool starts with 2 and 3 threads; summary and weights identical to --workers 1', async () => {
    const runs = new Map<number, Run>();
    for (const n of [1, 2, 3]) runs.set(n, await train(`tfjs-workers-${n}`, ['--inner-loop', 'tfjs', '--workers', String(n)]));
    for (const [n, run] of runs) {
      assert.equal(run.config.workers, n);
      assert.match(run.config.innerLoopUsed.training, /^tfjs/, `--workers ${n}: ${JSON.stringify(run.config.innerLoopUsed)}`);
      if (n === 1) assert.doesNotMatch(run.stdout, /worker threads/, '--workers 1 adapts in this thread');
      else assert.match(run.stdout, new RegExp(`adapting the 3 tasks of each meta-iteration in ${n} worker threads`), `--workers ${n}: the pool started`);
    }
    assertSameBits(runs.get(1)!, runs.get(2)!, '--workers 2 against 1');
    assertSameBits(runs.get(1)!, runs.get(3)!, '--workers 3 against 1');
  });

  test('fused MLP kernel: one thread by design (config.json says fused-mlp); --workers 3 identical to --workers 1', async () => {
    const one = await train('fused-workers-1', ['--workers', '1']);
    const three = await train('fused-workers-3', ['--workers', '3']);
    for (const run of [one, three]) assert.deepEqual(run.config.innerLoopUsed, { training: 'fused-mlp', evaluation: 'fused-mlp' });
    assert.doesNotMatch(three.stdout, /worker threads/);
    assert.match(three.stdout, /fused-mlp kernel adapts each meta-batch in this thread/);
    assertSameBits(one, three, 'fused, --workers 3 against 1');
  });
});

/*
 * The tolerance of "the same numbers to float32 rounding". Measured on this configuration (50
 * meta-iterations, 20 evaluation tasks): the final weights of --backend cpu, --inner-loop tfjs and
 * both differ from the default run's by at most 3e-8 (about one float32 ulp of weights of size
 * ~1); mseBefore by 1e-9 relative; mseAfter, after 32 more SGD steps per task on a task whose fit
 * is sensitive (ci95 is half the mean), by at most 2.7e-4 relative. The bounds below leave a margin
 * of 30x on the weights and 7x on mseAfter, and are far below what a real change moves: another
 * seed changes the weights by ~2 and mseAfter by ~20%.
 */
const WEIGHT_TOLERANCE = 1e-6;
const MSE_TOLERANCE = 2e-3;

describe('--backend cpu and --inner-loop tfjs', () => {
  let reference: Run;
  before(async () => {
    reference = await train('default', []);
  });

  for (const [name, flags, backend, innerLoop] of [
    ['--backend cpu', ['--backend', 'cpu'], 'cpu', /^fused-mlp$/],
    ['--inner-loop tfjs', ['--inner-loop', 'tfjs'], 'wasm', /^tfjs/],
    ['--backend cpu --inner-loop tfjs', ['--backend', 'cpu', '--inner-loop', 'tfjs'], 'cpu', /^tfjs/],
  ] as const) {
    test(`${name}: runs to the end, config.json records it, the default run's numbers to float32 rounding`, async () => {
      const run = await train(name.replace(/\W+/g, '-'), [...flags]);
      assert.equal(run.config.backendUsed, backend);
      assert.match(run.config.innerLoopUsed.training, innerLoop, JSON.stringify(run.config.innerLoopUsed));
      assert.match(run.config.innerLoopUsed.evaluation, innerLoop, JSON.stringify(run.config.innerLoopUsed));
      assert.equal(run.summary.metaIters, 50);
      assert.equal(run.summary.eval.tasks, 20);
      const dw = maxAbsDifference(run.weights, reference.weights);
      assert.ok(dw <= WEIGHT_TOLERANCE, `weights differ by ${dw}`);
      for (const key of ['mseBefore', 'mseAfter']) {
        const d = relative(run.summary.eval[key], reference.summary.eval[key]);
        assert.ok(d <= MSE_TOLERANCE, `${key} ${run.summary.eval[key]} against ${reference.summary.eval[key]}: ${d} relative`);
      }
    });
  }

  test('the tolerance tells runs apart: another seed is far outside it', async () => {
    const other = await train('seed-1', ['--seed', '1']);
    assert.ok(maxAbsDifference(other.weights, reference.weights) > 1000 * WEIGHT_TOLERANCE);
    assert.ok(relative(other.summary.eval.mseAfter, reference.summary.eval.mseAfter) > 10 * MSE_TOLERANCE);
  });
});
