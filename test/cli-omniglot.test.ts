/**
 * `reptile train omniglot` and `reptile eval` on the real Omniglot archives
 * (../shared/data/omniglot relative to the repository; <clone>/../shared/data/omniglot in CI):
 * what a tiny run writes (config.json, summary.json, metrics.jsonl, model/), evaluation of a run
 * in another setting, a published preset recorded in config.json, and bad inputs: exit code 2,
 * one line naming the flag or file, no run directory created and an existing run not damaged.
 * Skipped, with a message, only when the archives are absent. One decoded-data cache (a temp dir,
 * REPTILE_CACHE_DIR) is shared by every command here, so the ~10 s decode is paid once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { useBackend } from '../src/core/backend.js';
import { disposeParams, paramsFromHost, paramsToHost, type HostParams } from '../src/core/params.js';
import { disposeOptimizerState } from '../src/nn/optimizers.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { assertOneLineUsageError, cliWith, hashTree, readJson } from './support/cli.js';
import { OMNIGLOT_DATA as DATA, omniglotRequirement } from './support/require.js';
import { PAPER_PRESETS } from './support/documented-defaults.js';
import { nativeCpuLevels } from '../src/kernels/fused-native.js';

const skip = omniglotRequirement();

let root: string;
let cacheDir: string;

/** Every command shares the decoded-data cache; REPTILE_DEBUG is cleared (no stack traces). */
const { runCli, runOk } = cliWith(() => ({ env: { REPTILE_CACHE_DIR: cacheDir, REPTILE_DEBUG: '' } }));

/** Runs `tasks` with at most `limit` at a time (the machine is shared). */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-omniglot-'));
  cacheDir = join(root, 'cache');
  await mkdir(cacheDir);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = () => join(root, 'run-mlp');
const TINY_MLP = ['--model', 'mlp', '--meta-iters', '3', '--eval-interval', '0', '--eval-samples', '4', '--eval-interval-samples', '2', '--eval-iters', '2'];

test('reptile train omniglot (tiny MLP run) writes config.json, summary.json, metrics.jsonl and model/', { skip, timeout: 300_000 }, async (t) => {
  const started = performance.now();
  const r = await runOk(['train', 'omniglot', ...TINY_MLP, '--data', DATA, '--out', run()]);
  t.diagnostic(`train (with the first decode): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.match(r.stdout, /5-way 1-shot accuracy on 4 test tasks/);

  const config = await readJson(join(run(), 'config.json'));
  assert.equal(config.benchmark, 'omniglot');
  assert.equal(config.classes, 5);
  assert.equal(config.shots, 1);
  assert.equal(config.trainShots, 10);
  assert.equal(config.split, 'reptile');
  assert.equal(config.splitSeed, 0);
  assert.equal(config.model, 'mlp');
  assert.equal(config.metaIters, 3);
  assert.equal(config.evalIters, 2);
  assert.equal(config.evalSamples, 4);
  assert.equal(config.evalIntervalSamples, 2);
  assert.equal(config.transductive, false);
  assert.equal(config.data, DATA);
  assert.equal(config.seed, 0);
  assert.deepEqual(config.modelSpec?.sizes, [784, 64, 64, 5], 'the recorded model: 28*28 inputs, 5 outputs');

  const summary = await readJson(join(run(), 'summary.json'));
  assert.equal(summary.benchmark, 'omniglot');
  assert.equal(summary.algorithm, 'reptile');
  assert.equal(summary.metaIters, 3);
  for (const key of ['wallSeconds', 'metaItersPerSecond']) assert.ok(Number.isFinite(summary[key]) && summary[key] > 0, `summary.${key} = ${summary[key]}`);
  const e = summary.eval;
  assert.equal(e.ways, 5);
  assert.equal(e.shots, 1);
  assert.equal(e.tasks, 4);
  assert.equal(e.transductive, false);
  assert.ok(e.accuracy >= 0 && e.accuracy <= 1, `accuracy ${e.accuracy} is a fraction`);
  // 4 tasks x 5 queries: the accuracy is a multiple of 1/20.
  assert.ok(Math.abs(e.accuracy * 20 - Math.round(e.accuracy * 20)) < 1e-9, `accuracy ${e.accuracy} is not k/20`);
  assert.ok(Number.isFinite(e.ci95) && e.ci95 >= 0 && e.ci95 <= 1, `ci95 ${e.ci95}`);

  const lines = (await readFile(join(run(), 'metrics.jsonl'), 'utf8')).trim().split('\n');
  assert.ok(lines.length >= 1, 'metrics.jsonl has an evaluation point');
  for (const line of lines) {
    const point = JSON.parse(line);
    assert.ok(Number.isInteger(point.iteration) && point.iteration >= 0 && point.iteration <= 3, line);
    assert.ok(Number.isFinite(point.elapsedSeconds), line);
    for (const key of ['trainAccuracy', 'testAccuracy']) {
      assert.ok(typeof point[key] === 'number' && point[key] >= 0 && point[key] <= 1, `${key} in ${line}`);
      // 2 tasks x 5 queries per split.
      assert.ok(Math.abs(point[key] * 10 - Math.round(point[key] * 10)) < 1e-9, `${key} is not k/10 in ${line}`);
    }
  }
  assert.equal(JSON.parse(lines.at(-1)!).iteration, 3, 'the last evaluation point is at the end of training');

  const modelJson = await readJson(join(run(), 'model', 'model.json'));
  assert.ok(modelJson.modelTopology && Array.isArray(modelJson.weightsManifest), 'model/model.json is a TensorFlow.js model');
  for (const group of modelJson.weightsManifest) for (const path of group.paths) assert.ok(existsSync(join(run(), 'model', path)), `model/${path}`);
});

test('reptile eval RUN reproduces the final evaluation (also with --workers 2), and in another setting writes eval-5w2s.json', { skip, timeout: 120_000 }, async () => {
  assert.ok(existsSync(join(run(), 'config.json')), 'the training run of the previous test');
  // Same settings, same seed: the same tasks and the same meta-parameters (from model/) as the run's final evaluation.
  const same = join(root, 'same.json');
  await runOk(['eval', run(), '--json', same]);
  const summary = await readJson(join(run(), 'summary.json'));
  assert.deepEqual((await readJson(same)).eval, summary.eval, 'reptile eval with the run\'s settings reproduces summary.json\'s evaluation');
  // On 2 threads (the worker pool adapts and scores part of the tasks): the same numbers, bitwise.
  const threaded = join(root, 'threaded.json');
  const t = await runOk(['eval', run(), '--workers', '2', '--json', threaded]);
  assert.match(t.stdout, /evaluating tasks in 2 threads/);
  assert.equal((await readJson(threaded)).threads, 2);
  assert.deepEqual((await readJson(threaded)).eval, summary.eval, 'reptile eval --workers 2 reproduces summary.json\'s evaluation');

  const r = await runOk(['eval', run(), '--eval-samples', '3', '--shots', '2']);
  const m = /5-way 2-shot accuracy on 3 test tasks (\d+\.\d+)%/.exec(r.stdout);
  assert.ok(m, `stdout: ${r.stdout}`);
  const file = join(run(), 'eval-5w2s.json');
  assert.ok(r.stdout.includes(file), `stdout names the file written: ${r.stdout}`);
  const written = await readJson(file);
  assert.equal(written.benchmark, 'omniglot');
  assert.equal(written.settings.shots, 2);
  assert.equal(written.settings.evalSamples, 3);
  assert.equal(written.settings.classes, 5);
  const e = written.eval;
  assert.equal(e.ways, 5);
  assert.equal(e.shots, 2);
  assert.equal(e.tasks, 3);
  assert.equal(e.transductive, false);
  assert.ok(e.accuracy >= 0 && e.accuracy <= 1);
  assert.ok(Math.abs(e.accuracy * 15 - Math.round(e.accuracy * 15)) < 1e-9, `accuracy ${e.accuracy} is not k/15 (3 tasks x 5 queries)`);
  assert.ok(Number.isFinite(e.ci95) && e.ci95 >= 0);
  assert.equal(m[1], (100 * e.accuracy).toFixed(2), 'the printed accuracy is the one written');
  // The run's own files are untouched by an evaluation.
  assert.deepEqual(await readJson(join(run(), 'summary.json')), summary);
});

test('reptile train --workers 2 runs its periodic and final evaluations on 2 threads, with the numbers of one thread', { skip, timeout: 300_000 }, async () => {
  assert.ok(existsSync(join(run(), 'summary.json')), 'the training run of the first test');
  // The first run's settings with --workers given (its meta-batch of 5 adapts on the default
  // threads either way) and periodic evaluations, so that both kinds go through the pool.
  const [serial, threaded] = [join(root, 'periodic-serial'), join(root, 'periodic-threads')];
  const flags = ['train', 'omniglot', ...TINY_MLP, '--eval-interval', '1', '--data', DATA];
  const [s, r] = await Promise.all([runOk([...flags, '--out', serial]), runOk([...flags, '--workers', '2', '--out', threaded])]);
  assert.doesNotMatch(s.stdout, /evaluating tasks in/, 'without --workers the evaluations stay in this thread');
  assert.match(r.stdout, /evaluating tasks in 2 threads/);
  assert.deepEqual((await readJson(join(threaded, 'summary.json'))).eval, (await readJson(join(serial, 'summary.json'))).eval);
  const accuracies = async (dir: string) => (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => { const m = JSON.parse(l); return [m.trainAccuracy, m.testAccuracy]; });
  const periodic = await accuracies(serial);
  assert.equal(periodic.length, 3);
  assert.deepEqual(await accuracies(threaded), periodic);
});

test('reptile eval RUN --classes 7 (the model has 5 outputs): exit 2, one line, nothing written', { skip, timeout: 120_000 }, async () => {
  const before = await hashTree(run());
  const r = await runCli(['eval', run(), '--classes', '7']);
  assertOneLineUsageError(r, ['--classes 7', /\b5\b/], 'eval --classes 7');
  assert.deepEqual(await hashTree(run()), before, 'the run directory changed');
  assert.ok(!existsSync(join(run(), 'eval-7w1s.json')));
  // The checkpoint holds no model description: its parameters must be checked against --classes too.
  assert.ok(existsSync(join(run(), 'checkpoint')), 'the run wrote a checkpoint');
  const c = await runCli(['eval', run(), '--checkpoint', '--classes', '7']);
  assertOneLineUsageError(c, ['--classes 7', /\b5\b/], 'eval --checkpoint --classes 7');
  assert.deepEqual(await hashTree(run()), before, 'the run directory changed');
});

/** Parameter sets by name and bits: equal when every name, shape and float is the same. */
function sameParams(a: HostParams, b: HostParams): boolean {
  return JSON.stringify([a.names, a.shapes]) === JSON.stringify([b.names, b.shapes])
    && a.values.every((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(b.values[i].buffer, b.values[i].byteOffset, b.values[i].byteLength)));
}

async function checkpointParams(file: string): Promise<{ params: HostParams; phase: number }> {
  const checkpoint = await loadCheckpoint(file);
  const params = await paramsToHost(checkpoint.params);
  disposeParams(checkpoint.params);
  for (const state of Object.values(checkpoint.optimizerStates)) disposeOptimizerState(state);
  return { params, phase: Number(checkpoint.extra.phase ?? 0) };
}

test('reptile eval --checkpoint after a baseline: it evaluates the algorithm\'s final parameters, not the baseline\'s', { skip, timeout: 180_000 }, async () => {
  const out = join(root, 'run-baseline');
  const tiny = ['--model', 'mlp', '--meta-iters', '2', '--eval-interval', '0', '--eval-samples', '10', '--eval-interval-samples', '1', '--eval-iters', '1'];
  await runOk(['train', 'omniglot', ...tiny, '--baseline', 'joint', '--data', DATA, '--out', out]);
  const summary = await readJson(join(out, 'summary.json'));
  assert.equal(summary.baseline?.algorithm, 'joint');

  // The parameters on disk: model/ and checkpoint/phase0.bin hold the algorithm's final ones,
  // checkpoint/state.bin the baseline's (a later phase), and the two sets differ.
  await useBackend('cpu');
  const algorithmCheckpoint = await checkpointParams(join(out, 'checkpoint', 'phase0.bin'));
  const last = await checkpointParams(join(out, 'checkpoint', 'state.bin'));
  const model = await loadModel(join(out, 'model'));
  const modelParams = await paramsToHost(model.params);
  disposeParams(model.params);
  assert.ok(last.phase > 0, `state.bin is the baseline's phase (phase ${last.phase})`);
  assert.ok(sameParams(algorithmCheckpoint.params, modelParams), 'checkpoint/phase0.bin holds the parameters of model/');
  assert.ok(!sameParams(last.params, modelParams), 'the baseline\'s parameters differ from the algorithm\'s');

  // A copy of the run whose model/ holds the baseline's parameters: what evaluating them gives.
  const baselineRun = join(root, 'run-baseline-as-model');
  await cp(out, baselineRun, { recursive: true });
  const baselineParams = paramsFromHost(last.params);
  await saveModel(join(baselineRun, 'model'), model.model, baselineParams, { benchmark: 'omniglot', algorithm: 'joint', seed: 0 });
  disposeParams(baselineParams);

  const fromModel = join(root, 'from-model.json');
  const fromCheckpoint = join(root, 'from-checkpoint.json');
  const fromBaseline = join(root, 'from-baseline.json');
  await runOk(['eval', out, '--json', fromModel]);
  const r = await runOk(['eval', out, '--checkpoint', '--json', fromCheckpoint]);
  await runOk(['eval', baselineRun, '--json', fromBaseline]);
  const [algorithm, checkpoint, baseline] = [await readJson(fromModel), await readJson(fromCheckpoint), await readJson(fromBaseline)];
  assert.equal(algorithm.algorithm, 'reptile');
  assert.deepEqual(algorithm.eval, summary.eval, 'model/ holds the algorithm\'s meta-parameters');
  // The two parameter sets are told apart by these tasks, so the comparison below means something.
  assert.notDeepEqual(baseline.eval.taskAccuracies, algorithm.eval.taskAccuracies, 'the baseline\'s parameters score differently on these tasks');
  assert.deepEqual(checkpoint.eval, algorithm.eval, '--checkpoint evaluates the algorithm\'s final parameters (phase0.bin = model/)');
  assert.notDeepEqual(checkpoint.eval.taskAccuracies, baseline.eval.taskAccuracies, '--checkpoint does not evaluate the baseline\'s parameters (state.bin)');
  assert.equal(checkpoint.algorithm, 'reptile');
  assert.match(r.stdout, /^reptile: /m);
});

test('bad inputs: exit 2, one line naming the flag or file; no run directory created, an existing run not damaged', { skip, timeout: 300_000 }, async (t) => {
  // An empty --data directory, and one with a truncated images_background.zip.
  const empty = join(root, 'empty');
  await mkdir(empty);
  const truncated = join(root, 'truncated');
  await mkdir(truncated);
  const source = await open(join(DATA, 'images_background.zip'));
  const prefix = Buffer.alloc(1_000_000);
  await source.read(prefix, 0, prefix.length, 0);
  await source.close();
  const target = await open(join(truncated, 'images_background.zip'), 'w');
  await target.write(prefix);
  await target.close();
  await symlink(join(DATA, 'images_evaluation.zip'), join(truncated, 'images_evaluation.zip'));
  // An incomplete copy: both archives extracted, but only character01 and character02 of each alphabet.
  const incomplete = join(root, 'incomplete');
  for (const archive of ['images_background', 'images_evaluation']) {
    const files = unzipSync(await readFile(join(DATA, `${archive}.zip`)), { filter: (f) => /\/character0[12]\/[^/]+\.png$/.test(f.name) });
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(dirname(join(incomplete, name)), { recursive: true });
      await writeFile(join(incomplete, name), bytes);
    }
  }

  const omniglot = (...args: string[]) => ['train', 'omniglot', ...TINY_MLP, '--data', DATA, ...args];
  const cases: { name: string; args: string[]; mentions: (string | RegExp)[] }[] = [
    { name: '--data: empty directory', args: ['train', 'omniglot', ...TINY_MLP, '--data', empty], mentions: ['--data', empty, 'images_background'] },
    { name: '--data: truncated zip', args: ['train', 'omniglot', ...TINY_MLP, '--data', truncated], mentions: ['--data', 'images_background.zip', /truncated|corrupt|not a valid zip/] },
    { name: '--data: too few characters', args: ['train', 'omniglot', ...TINY_MLP, '--data', incomplete], mentions: ['--data', incomplete, '1623'] },
    { name: '--classes 2000', args: omniglot('--classes', '2000'), mentions: ['--classes', '2000', /classes/] },
    { name: '--shots 25 (20 drawings per character)', args: omniglot('--shots', '25'), mentions: ['--shots', '25', /\b20\b/] },
    { name: '--train-shots 30', args: omniglot('--train-shots', '30'), mentions: ['--train-shots', '30', /\b20\b/] },
    { name: '--model conv-miniimagenet on omniglot', args: omniglot('--model', 'conv-miniimagenet'), mentions: ['--model', 'conv-miniimagenet'] },
    { name: '--classes on sine', args: ['train', 'sine', '--meta-iters', '2', '--eval-interval', '0', '--eval-samples', '2', '--classes', '5'], mentions: ['--classes', 'sine'] },
    { name: '--preset for sine', args: ['train', 'sine', '--meta-iters', '2', '--eval-interval', '0', '--eval-samples', '2', '--preset', 'omniglot-5w1s'], mentions: ['--preset', 'omniglot-5w1s', 'sine'] },
  ];

  const existing = run();
  assert.ok(existsSync(join(existing, 'config.json')), 'the training run of the first test');
  const before = await hashTree(existing);
  const started = performance.now();
  const jobs = cases.flatMap((c, i) => [
    // A fresh --out: must not be created.
    async () => {
      const out = join(root, `bad-${i}`);
      const r = await runCli([...c.args, '--out', out]);
      const line = assertOneLineUsageError(r, c.mentions, c.name);
      assert.ok(!existsSync(out), `${c.name}: created ${out}`);
      return `${c.name}: ${line}`;
    },
    // An existing run with --force: must be left exactly as it was.
    async () => {
      const r = await runCli([...c.args, '--out', existing, '--force']);
      assertOneLineUsageError(r, c.mentions, `${c.name} (--out an existing run --force)`);
      return '';
    },
  ]);
  const lines = await pool(jobs, 3);
  t.diagnostic(`${jobs.length} bad commands in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const line of lines.filter(Boolean)) t.diagnostic(line);
  assert.deepEqual(await hashTree(existing), before, 'an existing run was damaged by a command that failed');
});

test('--preset omniglot-5w5s-transductive: the preset values, shots 5 and transductive recorded in config.json and summary.json', { skip, timeout: 300_000 }, async (t) => {
  const out = join(root, 'run-preset');
  const started = performance.now();
  const flags = ['--meta-iters', '1', '--eval-interval', '0', '--eval-samples', '2', '--eval-interval-samples', '1', '--eval-iters', '1'];
  await runOk(['train', 'omniglot', '--preset', 'omniglot-5w5s-transductive', ...flags, '--data', DATA, '--out', out]);
  t.diagnostic(`preset run (conv, 1 meta-iteration): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const config = await readJson(join(out, 'config.json'));
  assert.equal(config.preset, 'omniglot-5w5s-transductive');
  assert.equal(config.transductive, true);
  assert.equal(config.shots, 5);
  assert.equal(config.classes, 5);
  assert.equal(config.model, 'conv');
  // Flags override the preset; every other value is the paper's (openai/supervised-reptile's README command).
  const overridden: Record<string, number> = { metaIters: 1, evalIters: 1, evalSamples: 2, evalIntervalSamples: 1, evalInterval: 0 };
  for (const { key, value } of PAPER_PRESETS['omniglot-5w5s-transductive']) {
    assert.deepEqual(config[key], key in overridden ? overridden[key] : value, `config.json ${key}`);
  }
  assert.equal(config.modelSpec?.kind, 'conv');
  // The native CNN kernel's instruction-set level, where it ran: REPTILE_CPU's, else the best this CPU runs.
  const level = config.innerLoopUsed.training === 'fused-cnn-native' ? process.env.REPTILE_CPU || nativeCpuLevels().at(-1) : undefined;
  assert.equal(config.nativeCpuLevel, level);
  const summary = await readJson(join(out, 'summary.json'));
  assert.equal(summary.eval.transductive, true);
  assert.equal(summary.eval.shots, 5);
  assert.equal(summary.eval.ways, 5);
  assert.equal(summary.eval.tasks, 2);
  assert.ok(summary.eval.accuracy >= 0 && summary.eval.accuracy <= 1);
});
