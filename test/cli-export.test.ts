/**
 * `reptile export --format safetensors` and `--init-from` on train and eval: the exported
 * state_dict's names and shapes, eval of a run and eval --init-from of its export giving the same
 * numbers bit for bit, train --init-from starting from those parameters (recorded with the file's
 * sha256), and bad inputs (exit 2, one line, no run directory left behind). Sine (the MLP) needs
 * no data; the CNN case runs on the Omniglot archives when they are present.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../src/core/safetensors.js';
import { assertOneLineUsageError, assertSameResults, cliWith, readJson, runKilledAt } from './support/cli.js';
import { OMNIGLOT_DATA, omniglotRequirement } from './support/require.js';

let root: string;
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_CACHE_DIR: join(root, 'cache'), REPTILE_DEBUG: '' } }));
const TINY_SINE = ['--meta-iters', '3', '--eval-interval', '0', '--eval-samples', '4', '--baseline', 'none', '--backend', 'cpu'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-export-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

const sineRun = () => join(root, 'sine');
const sineExport = () => join(root, 'sine.safetensors');

/** The names and shapes of a safetensors file, and its tensors. */
async function readExport(path: string) {
  const content = decodeSafetensors(await readFile(path));
  return { ...content, shapes: Object.fromEntries(Object.entries(content.tensors).map(([name, t]) => [name, t.shape])) };
}

test('reptile export --format safetensors writes the MLP as layer1..layer3 with PyTorch layouts and the model spec', { timeout: 120_000 }, async () => {
  await runOk(['train', 'sine', ...TINY_SINE, '--out', sineRun()]);
  const r = await runOk(['export', sineRun(), '--format', 'safetensors', '--out', sineExport()]);
  assert.match(r.stdout, /Written safetensors to /);
  const { shapes, metadata } = await readExport(sineExport());
  assert.deepEqual(shapes, { 'layer1.weight': [64, 1], 'layer1.bias': [64], 'layer2.weight': [64, 64], 'layer2.bias': [64], 'layer3.weight': [1, 64], 'layer3.bias': [1] });
  assert.deepEqual(JSON.parse(metadata.modelSpec), { kind: 'mlp', sizes: [1, 64, 64, 1], activation: 'tanh', init: 'pytorch' });
  assert.equal(metadata.reptileVersion, JSON.parse(await readFile('package.json', 'utf8')).version);
  assert.equal(metadata.format, 'pt');
  assert.equal(metadata.benchmark, 'sine');

  // --format tfjs: the run's model/ as a tfjs-layers model elsewhere, the same weights.
  const tfjsDir = join(root, 'sine-tfjs');
  await runOk(['export', sineRun(), '--format', 'tfjs', '--out', tfjsDir]);
  assert.deepEqual(await readFile(join(tfjsDir, 'weights.bin')), await readFile(join(sineRun(), 'model', 'weights.bin')));
  assert.equal((await readJson(join(tfjsDir, 'model.json'))).userDefinedMetadata.reptile.exportedFrom, sineRun());
});

test('eval --init-from the export gives the numbers of eval of the run, bit for bit', { timeout: 120_000 }, async () => {
  await runOk(['eval', sineRun(), '--json', join(root, 'a.json')]);
  const r = await runOk(['eval', sineRun(), '--init-from', sineExport()]);
  const written = join(sineRun(), 'eval-10shots-sine.json');
  assert.ok(r.stdout.includes(written), `the default file is named after the parameters' file: ${r.stdout}`);
  const [a, b] = [await readJson(join(root, 'a.json')), await readJson(written)];
  assert.deepEqual(b.eval, a.eval);
  assert.equal(b.source, sineExport());
  assert.equal(b.sha256, createHash('sha256').update(await readFile(sineExport())).digest('hex'));
});

test('train --init-from starts from the file: with a zero meta-step the run ends where it started; config.json records the file', { timeout: 120_000 }, async () => {
  const out = join(root, 'from-file');
  await runOk(['train', 'sine', ...TINY_SINE, '--meta-step', '0', '--seed', '7', '--init-from', sineExport(), '--out', out]);
  const config = await readJson(join(out, 'config.json'));
  assert.equal(config.initFrom, sineExport());
  assert.equal(config.initFromSha256, createHash('sha256').update(await readFile(sineExport())).digest('hex'));
  await runOk(['export', out, '--format', 'safetensors', '--out', join(root, 'again.safetensors')]);
  const [first, again] = [await readExport(sineExport()), await readExport(join(root, 'again.safetensors'))];
  for (const [name, t] of Object.entries(first.tensors)) assert.deepEqual([...again.tensors[name].data], [...t.data], name);
  // The run's config.json given back as --config starts from the same file.
  const fromConfig = join(root, 'from-config');
  await runOk(['train', 'sine', '--config', join(out, 'config.json'), '--out', fromConfig]);
  assert.deepEqual((await readJson(join(fromConfig, 'summary.json'))).eval, (await readJson(join(out, 'summary.json'))).eval);
  assert.equal((await readJson(join(fromConfig, 'config.json'))).initFromSha256, config.initFromSha256);

  // With the default meta-step the parameters move from there: not a fresh initialisation of seed 7.
  const moved = join(root, 'moved');
  await runOk(['train', 'sine', ...TINY_SINE, '--seed', '7', '--init-from', sineExport(), '--out', moved]);
  const seeded = join(root, 'seeded');
  await runOk(['train', 'sine', ...TINY_SINE, '--seed', '7', '--out', seeded]);
  const loss = async (dir: string) => (await readJson(join(dir, 'summary.json'))).eval.mseBefore as number;
  assert.notEqual(await loss(moved), await loss(seeded));
  assert.notEqual(await loss(moved), await loss(out));
});

test('--resume of an --init-from run ends as the uninterrupted run (the joint baseline after it starts from the file too), and refuses a changed file', { timeout: 300_000 }, async () => {
  const settings = ['train', 'sine', '--meta-iters', '20', '--eval-interval', '10', '--checkpoint-interval', '10', '--eval-samples', '4', '--eval-interval-samples', '2', '--backend', 'cpu', '--workers', '0'];
  const env = { REPTILE_CACHE_DIR: join(root, 'cache'), REPTILE_DEBUG: '' };
  const whole = join(root, 'whole');
  await runOk([...settings, '--init-from', sineExport(), '--out', whole]);
  const killed = join(root, 'killed');
  // Killed in Reptile's phase: the joint baseline, started after the resume, starts from the file.
  await runKilledAt([...settings, '--init-from', sineExport(), '--out', killed], 'evaluation:reptile:20', { env });
  // The run's own command with --resume appended (its --init-from included) continues it.
  await runOk([...settings, '--init-from', sineExport(), '--out', killed, '--resume', killed]);
  await assertSameResults(whole, killed);

  const copy = join(root, 'copy.safetensors');
  await copyFile(sineExport(), copy);
  const changed = join(root, 'changed');
  await runKilledAt([...settings, '--init-from', copy, '--out', changed], 'evaluation:reptile:20', { env });
  const bytes = await readFile(copy);
  bytes[bytes.length - 1] ^= 1;
  await writeFile(copy, bytes);
  assertOneLineUsageError(await runCli(['train', '--resume', changed]), ['--resume', copy, 'has changed since the run started'], 'a changed --init-from file');
  assertOneLineUsageError(await runCli([...settings, '--init-from', sineExport(), '--resume', changed]), [`--init-from ${JSON.stringify(sineExport())} (recorded ${JSON.stringify(copy)})`], 'another --init-from on --resume');
});

test('bad exports and --init-from files: exit 2, one line naming the input, nothing written', { timeout: 120_000 }, async () => {
  assertOneLineUsageError(await runCli(['export', join(root, 'nothing'), '--format', 'safetensors', '--out', join(root, 'x.safetensors')]), ['no run there'], 'a missing run');
  assertOneLineUsageError(await runCli(['export', sineRun(), '--format', 'onnx', '--out', join(root, 'x.onnx')]), ['onnx', 'safetensors, tfjs'], 'an unknown format');
  const aFile = join(root, 'a-file');
  await writeFile(aFile, 'not a directory');
  assertOneLineUsageError(await runCli(['export', sineRun(), '--format', 'safetensors', '--out', join(aFile, 'x.safetensors')]), ['--out', 'cannot write it'], 'an unwritable --out');
  assert.ok(!existsSync(join(root, 'x.safetensors')));

  // A state_dict of a 32-unit MLP for the 64-unit sine model.
  const narrow = join(root, 'narrow.safetensors');
  const t = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  await writeFile(narrow, encodeSafetensors({ tensors: { 'layer1.weight': t([32, 1]), 'layer1.bias': t([32]), 'layer2.weight': t([32, 32]), 'layer2.bias': t([32]), 'layer3.weight': t([1, 32]), 'layer3.bias': t([1]) }, metadata: {} }));
  const bad = join(root, 'bad-run');
  const mismatch = ['--init-from', narrow, 'tensor layer1.weight: expected [64,1], found [32,1]'];
  assertOneLineUsageError(await runCli(['train', 'sine', ...TINY_SINE, '--init-from', narrow, '--out', bad]), mismatch, 'train --init-from of another shape');
  assert.ok(!existsSync(bad), 'no run directory is left behind');
  assertOneLineUsageError(await runCli(['eval', sineRun(), '--init-from', narrow]), mismatch, 'eval --init-from of another shape');

  const truncated = join(root, 'truncated.safetensors');
  await writeFile(truncated, (await readFile(sineExport())).subarray(0, 1000));
  assertOneLineUsageError(await runCli(['train', 'sine', ...TINY_SINE, '--init-from', truncated, '--out', bad]), ['--init-from', truncated, 'truncated'], 'a truncated file');
  assertOneLineUsageError(await runCli(['train', 'sine', ...TINY_SINE, '--init-from', join(root, 'absent.safetensors'), '--out', bad]), ['--init-from', 'ENOENT'], 'a missing file');
  assert.ok(!existsSync(bad), 'no run directory is left behind');
  assertOneLineUsageError(await runCli(['eval', sineRun(), '--init-from', sineExport(), '--checkpoint']), ['--init-from', '--checkpoint'], '--init-from with --checkpoint');
});

const skip = omniglotRequirement();

test('the Omniglot CNN: exported as conv1..conv4, bn1..bn4, fc; eval --init-from equals eval of the run', { skip, timeout: 600_000 }, async () => {
  const run = join(root, 'cnn');
  await runOk(['train', 'omniglot', '--data', OMNIGLOT_DATA, '--meta-iters', '2', '--eval-interval', '0', '--eval-samples', '3', '--eval-iters', '2', '--baseline', 'none', '--out', run]);
  const file = join(root, 'cnn.safetensors');
  await runOk(['export', run, '--format', 'safetensors', '--out', file]);
  const { shapes } = await readExport(file);
  const blocks = [1, 2, 3, 4].flatMap((k) => [[`conv${k}.weight`, [64, k === 1 ? 1 : 64, 3, 3]], [`conv${k}.bias`, [64]], [`bn${k}.weight`, [64]], [`bn${k}.bias`, [64]]]);
  assert.deepEqual(shapes, Object.fromEntries([...blocks, ['fc.weight', [5, 256]], ['fc.bias', [5]]]));
  await runOk(['eval', run, '--json', join(root, 'cnn-a.json')]);
  await runOk(['eval', run, '--init-from', file, '--json', join(root, 'cnn-b.json')]);
  assert.deepEqual((await readJson(join(root, 'cnn-b.json'))).eval, (await readJson(join(root, 'cnn-a.json'))).eval);
});
