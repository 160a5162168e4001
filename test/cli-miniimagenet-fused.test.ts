/**
 * `reptile train images --model conv-miniimagenet` runs its inner loops in the fused CNN kernel
 * (the max-pooling block family, native/fused-cnn.c), in training and evaluation, and config.json
 * says so; `--inner-loop tfjs` on the same command gives the TensorFlow.js loop, and the two runs'
 * evaluations agree (the same numbers to float32 rounding: the same accuracy on these tasks).
 * The data: a generated folder of 12x12 RGB PNGs, each class a colour pattern plus noise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { Rng } from '../src/core/rng.js';
import { readJson, runOk } from './support/cli.js';

const SIZE = 12;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-miniimagenet-'));
  const rng = Rng.fromSeed(3);
  const write = async (split: string, c: number) => {
    const colour = [rng.int(256), rng.int(256), rng.int(256)];
    const dir = join(root, 'data', split, `c${c}`);
    await mkdir(dir, { recursive: true });
    for (let e = 0; e < 4; e++) {
      const data = new Uint8Array(SIZE * SIZE * 3);
      for (let p = 0; p < data.length; p++) data[p] = Math.min(255, Math.max(0, colour[p % 3] + rng.int(61) - 30));
      await writeFile(join(dir, `${e}.png`), encodePng({ width: SIZE, height: SIZE, data, channels: 3, depth: 8 }));
    }
  };
  for (let c = 0; c < 8; c++) await write('train', c);
  for (let c = 0; c < 5; c++) await write('test', c);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('train images --model conv-miniimagenet runs in the fused CNN kernel, and evaluates as the tfjs loop does', { timeout: 300_000 }, async () => {
  const args = ['train', 'images', '--data', join(root, 'data'), '--image-size', String(SIZE), '--channels', 'rgb', '--model', 'conv-miniimagenet', '--classes', '5', '--shots', '1', '--train-shots', '3'];
  const budget = ['--meta-iters', '2', '--meta-batch', '2', '--inner-iters', '2', '--inner-batch', '5', '--eval-iters', '2', '--eval-samples', '10', '--eval-interval', '0', '--baseline', 'none', '--workers', '0', '--seed', '1'];
  const env = { REPTILE_CACHE_DIR: join(root, 'cache') };
  const fused = join(root, 'fused');
  const tfjs = join(root, 'tfjs');
  await runOk([...args, ...budget, '--out', fused], { env });
  await runOk([...args, ...budget, '--inner-loop', 'tfjs', '--out', tfjs], { env });
  const config = await readJson(join(fused, 'config.json'));
  assert.match(config.innerLoopUsed.training, /^fused-cnn-(native|wasm)$/, JSON.stringify(config.innerLoopUsed));
  assert.equal(config.innerLoopUsed.evaluation, config.innerLoopUsed.training);
  assert.match((await readJson(join(tfjs, 'config.json'))).innerLoopUsed.training, /^tfjs/);
  const [a, b] = [(await readJson(join(fused, 'summary.json'))).eval, (await readJson(join(tfjs, 'summary.json'))).eval];
  assert.equal(a.accuracy, b.accuracy, `fused ${JSON.stringify(a)}, tfjs ${JSON.stringify(b)}`);
});
