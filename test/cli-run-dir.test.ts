/**
 * The run directory contract (DESIGN.md): what a tiny `reptile train sine` run writes, that an
 * existing run is never damaged without --force, reproducibility from the seed and from
 * config.json, and --config / flag precedence.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveTrainConfig } from '../src/cli/train-options.js';
import { hashTree, readJson, readJsonLines, runCli, runOk } from './support/cli.js';
import { OMNIGLOT_DEFAULTS, PAPER_PRESETS, SINE_DEFAULTS } from './support/documented-defaults.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE_JSON = resolve(HERE, '../../package.json');

const TINY = ['--meta-iters', '20', '--eval-samples', '5', '--eval-interval', '10', '--eval-interval-samples', '3', '--eval-iters', '4'];
/** Flags of the main run, besides TINY: a few set away from their defaults. */
const CHOSEN = { seed: 3, learningRate: 0.03, innerIters: 3 };
const MAIN_ARGS = [...TINY, '--seed', '3', '--learning-rate', '0.03', '--inner-iters', '3'];

/** Settings of classification, images and text, which a sine run's config.json must not record. */
const NOT_SINE = ['classes', 'transductive', 'trainClasses', 'data', 'split', 'splitSeed', 'imageSize', 'channels', 'queryShots', 'textSplit', 'buckets', 'maxTokens', 'wordNgrams', 'charNgrams', 'embeddingDim'];

function assertFiniteNonNegative(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} should be a number, got ${JSON.stringify(value)}`);
  assert.ok(Number.isFinite(value as number) && (value as number) >= 0, `${what} should be finite and >= 0, got ${value}`);
}

function assertRegressionEval(evalResult: any, tasks: number, what: string): void {
  assert.equal(typeof evalResult, 'object', `${what} should be an object`);
  assert.equal(evalResult.tasks, tasks, `${what}.tasks`);
  for (const key of ['mseBefore', 'mseAfter', 'ci95']) assertFiniteNonNegative(evalResult[key], `${what}.${key}`);
}

let dir: string;
let runA: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-cli-run-dir-'));
  runA = join(dir, 'a');
  await runOk(['train', 'sine', ...MAIN_ARGS, '--out', runA]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a tiny sine run writes the run directory', () => {
  test('config.json: every resolved hyperparameter, the seed, the backend used, versions', async () => {
    const config = await readJson(join(runA, 'config.json'));
    const chosen: Record<string, unknown> = { ...CHOSEN, metaIters: 20, evalSamples: 5, evalInterval: 10, evalIntervalSamples: 3, evalIters: 4 };
    // The chosen values, and README.md's sine defaults for the rest (a literal table, not the code's).
    for (const { key } of SINE_DEFAULTS) assert.ok(key in config, `config.json lacks ${key}`);
    for (const { key, value } of SINE_DEFAULTS) assert.deepEqual(config[key], key in chosen ? chosen[key] : value, `config.json ${key} (README.md's sine default: ${JSON.stringify(value)})`);
    for (const key of NOT_SINE) assert.ok(!(key in config), `config.json records ${key}, which does not apply to sine`);
    assert.equal(config.benchmark, 'sine');
    assert.equal(config.seed, 3);
    assert.ok(['wasm', 'cpu', 'node'].includes(config.backendUsed), `backendUsed ${config.backendUsed}`);
    const pkg = await readJson(PACKAGE_JSON);
    assert.equal(config.packageVersion, pkg.version);
    assert.equal(config.tfjsVersion, pkg.dependencies['@tensorflow/tfjs']);
    assert.equal(config.nodeVersion, process.version);
  });

  test('metrics.jsonl: one object per evaluation point with iteration, elapsedSeconds and mseAfter', async () => {
    const points = await readJsonLines(join(runA, 'metrics.jsonl'));
    const reptile = points.filter((p) => p.algorithm === 'reptile');
    assert.deepEqual(reptile.map((p) => p.iteration), [10, 20]);
    assert.deepEqual(points.filter((p) => p.algorithm === 'joint').map((p) => p.iteration), [10, 20]);
    for (const p of points) {
      assert.ok(Number.isInteger(p.iteration) && p.iteration >= 1, `iteration ${p.iteration}`);
      assertFiniteNonNegative(p.elapsedSeconds, 'elapsedSeconds');
      assertFiniteNonNegative(p.mseAfter, 'mseAfter');
    }
  });

  test('summary.json: benchmark, algorithm, metaIters, speed, eval and baseline', async () => {
    const summary = await readJson(join(runA, 'summary.json'));
    assert.equal(summary.benchmark, 'sine');
    assert.equal(summary.algorithm, 'reptile');
    assert.equal(summary.metaIters, 20);
    assert.ok(summary.wallSeconds > 0 && Number.isFinite(summary.wallSeconds), `wallSeconds ${summary.wallSeconds}`);
    assert.ok(summary.metaItersPerSecond > 0 && Number.isFinite(summary.metaItersPerSecond), `metaItersPerSecond ${summary.metaItersPerSecond}`);
    assertRegressionEval(summary.eval, 5, 'eval');
    assert.equal(summary.baseline?.algorithm, 'joint');
    assertRegressionEval(summary.baseline.eval, 5, 'baseline.eval');
  });

  test('model/: model.json and weights.bin of the size the manifest describes', async () => {
    const json = await readJson(join(runA, 'model', 'model.json'));
    assert.deepEqual(json.weightsManifest.flatMap((g: any) => g.paths), ['weights.bin']);
    const floats = json.weightsManifest.flatMap((g: any) => g.weights).reduce((n: number, w: any) => n + w.shape.reduce((a: number, b: number) => a * b, 1), 0);
    // 1-64-64-1 MLP: 64 + 64 + 64*64 + 64 + 64 + 1 parameters.
    assert.equal(floats, 4353);
    assert.equal((await stat(join(runA, 'model', 'weights.bin'))).size, 4 * floats);
  });

  test('charts/: SVG and PNG of each chart', async () => {
    const files = await readdir(join(runA, 'charts'));
    const svgs = files.filter((f) => f.endsWith('.svg'));
    assert.ok(svgs.length >= 2, `charts: ${files.join(', ')}`);
    for (const svg of svgs) {
      assert.match(await readFile(join(runA, 'charts', svg), 'utf8'), /<svg[\s>]/);
      const png = svg.replace(/\.svg$/, '.png');
      assert.ok(files.includes(png), `${png} next to ${svg}`);
      const bytes = await readFile(join(runA, 'charts', png));
      assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${png} is a PNG`);
    }
  });
});

describe('an existing run', () => {
  test('is refused without --force (exit 2, every file byte-identical), replaced with --force', async () => {
    const target = join(dir, 'existing');
    await runOk(['train', 'sine', ...TINY, '--baseline', 'none', '--out', target]);
    await writeFile(join(target, 'notes.txt'), 'my notes\n');
    const before = await hashTree(target);
    assert.ok(before.has('summary.json') && before.has('model/weights.bin') && before.has('notes.txt'));

    const refused = await runCli(['train', 'sine', ...TINY, '--meta-iters', '10', '--baseline', 'none', '--out', target]);
    assert.equal(refused.code, 2, refused.stderr);
    const lines = refused.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0], /--out/);
    assert.match(lines[0], /--force/);
    assert.deepEqual(await hashTree(target), before, 'no file changed');

    await runOk(['train', 'sine', ...TINY, '--meta-iters', '10', '--baseline', 'none', '--force', '--out', target]);
    const summary = await readJson(join(target, 'summary.json'));
    assert.equal(summary.metaIters, 10);
    assert.equal((await readJson(join(target, 'config.json'))).metaIters, 10);
    // The old metrics were replaced, not appended to.
    assert.deepEqual((await readJsonLines(join(target, 'metrics.jsonl'))).map((p) => p.iteration), [10]);
    assert.notEqual((await hashTree(target)).get('model/weights.bin'), before.get('model/weights.bin'));
    assert.equal(await readFile(join(target, 'notes.txt'), 'utf8'), 'my notes\n', 'files that are not part of a run are kept');
  });
});

describe('reproducibility', () => {
  test('the same seed gives the same evaluation numbers', async () => {
    const again = join(dir, 'same-seed');
    await runOk(['train', 'sine', ...MAIN_ARGS, '--out', again]);
    const a = await readJson(join(runA, 'summary.json'));
    const b = await readJson(join(again, 'summary.json'));
    assert.deepEqual(b.eval, a.eval);
    assert.deepEqual(b.baseline.eval, a.baseline.eval);
    const strip = (points: any[]) => points.map(({ elapsedSeconds: _, ...rest }) => rest);
    assert.deepEqual(strip(await readJsonLines(join(again, 'metrics.jsonl'))), strip(await readJsonLines(join(runA, 'metrics.jsonl'))));
  });

  test('another seed gives other evaluation numbers', async () => {
    const other = join(dir, 'other-seed');
    await runOk(['train', 'sine', ...MAIN_ARGS, '--seed', '4', '--baseline', 'none', '--out', other]);
    const a = await readJson(join(runA, 'summary.json'));
    const b = await readJson(join(other, 'summary.json'));
    assert.notEqual(b.eval.mseAfter, a.eval.mseAfter);
  });

  test('a run\'s config.json given as --config reproduces the run', async () => {
    const replay = join(dir, 'replay');
    await runOk(['train', 'sine', '--config', join(runA, 'config.json'), '--out', replay]);
    const a = await readJson(join(runA, 'summary.json'));
    const b = await readJson(join(replay, 'summary.json'));
    assert.deepEqual(b.eval, a.eval);
    assert.deepEqual(b.baseline.eval, a.baseline.eval);
  });
});

test('--config values are used and flags override them', async () => {
  const file = join(dir, 'settings.json');
  await writeFile(file, JSON.stringify({ seed: 11, metaIters: 12, evalInterval: 6, evalIntervalSamples: 2, evalSamples: 3, evalIters: 2, innerIters: 2, learningRate: 0.05, hidden: [8, 8], baseline: 'none' }));
  const target = join(dir, 'configured');
  await runOk(['train', 'sine', '--config', file, '--meta-iters', '8', '--learning-rate', '0.01', '--eval-interval', '4', '--out', target]);
  const config = await readJson(join(target, 'config.json'));
  // From the file.
  assert.equal(config.seed, 11);
  assert.equal(config.innerIters, 2);
  assert.equal(config.evalSamples, 3);
  assert.deepEqual(config.hidden, [8, 8]);
  assert.equal(config.baseline, 'none');
  // Flags win.
  assert.equal(config.metaIters, 8);
  assert.equal(config.learningRate, 0.01);
  assert.equal(config.evalInterval, 4);
  // Defaults for the rest.
  assert.equal(config.metaStep, 0.1);
  // And the run used them.
  const summary = await readJson(join(target, 'summary.json'));
  assert.equal(summary.metaIters, 8);
  assert.equal(summary.eval.tasks, 3);
  assert.equal(summary.baseline, undefined);
  assert.deepEqual((await readJsonLines(join(target, 'metrics.jsonl'))).map((p) => p.iteration), [4, 8]);
  const model = await readJson(join(target, 'model', 'model.json'));
  assert.deepEqual(model.userDefinedMetadata.reptile.spec.sizes, [1, 8, 8, 1]);
  assert.equal(existsSync(join(target, 'summary.json')), true);
});

test('omniglot defaults and every --preset resolve to the paper\'s settings (openai/supervised-reptile\'s README commands)', () => {
  const defaults = resolveTrainConfig('omniglot', {}) as unknown as Record<string, unknown>;
  const wrong: string[] = [];
  for (const { key, value } of OMNIGLOT_DEFAULTS) if (JSON.stringify(defaults[key]) !== JSON.stringify(value)) wrong.push(`omniglot default ${key}: ${JSON.stringify(defaults[key])}, the paper's 5-way 1-shot ${JSON.stringify(value)}`);
  assert.deepEqual(Object.keys(PAPER_PRESETS).sort(), ['omniglot-20w1s', 'omniglot-20w1s-transductive', 'omniglot-20w5s', 'omniglot-20w5s-transductive', 'omniglot-5w1s', 'omniglot-5w1s-transductive', 'omniglot-5w5s', 'omniglot-5w5s-transductive']);
  for (const [preset, settings] of Object.entries(PAPER_PRESETS)) {
    const config = resolveTrainConfig('omniglot', { preset }) as unknown as Record<string, unknown>;
    assert.equal(config.preset, preset);
    for (const { key, value } of settings) if (JSON.stringify(config[key]) !== JSON.stringify(value)) wrong.push(`--preset ${preset} ${key}: ${JSON.stringify(config[key])}, the paper's ${JSON.stringify(value)}`);
  }
  assert.deepEqual(wrong, []);
});
