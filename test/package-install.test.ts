/**
 * The package as a user gets it: `npm pack` of this (built) project, installed from the tarball
 * into an empty folder with `npm install`, must work there: the `reptile` command runs (and
 * trains), the library imports by its package name with its types (a TypeScript file compiled
 * with this project's tsc) and at run time (both entries), and the install script either builds
 * the native addon or prints its one-line fallback message. The fallback is forced once (node-gyp
 * pointed at missing Node headers) and the rebuild command the README gives is run.
 *
 * Slow for a test (about a minute, most of it npm installing the dependencies from its warm cache
 * with --prefer-offline, and two compiles of the addon): it is the only test of what is published.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requirement } from './support/require.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[] };
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** The install script's message when node-gyp fails (package.json "install"). */
const FALLBACK = `${pkg.name}: the native CNN kernel was not built`;

let dir: string;
let app: string;
let addon: string;
let installOutput: string;

/** The child's environment: the outer npm's package and lifecycle variables (npm test) would leak into the inner npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle)_/.test(k)));
  return { ...env, ...extra };
}

async function sh(file: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd: options.cwd ?? app, env: cleanEnv(options.env), maxBuffer: 64 * 2 ** 20 });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
  }
}

/** What `import('<name>')` says about the addon, and the export count of both entries, in a fresh node. */
async function importInNode(): Promise<{ status: string; root: number; demo: number }> {
  const script = `const m = await import('${pkg.name}'); const d = await import('${pkg.name}/demo');
console.log(JSON.stringify({ status: m.nativeKernelsStatus(), root: Object.keys(m).length, demo: Object.keys(d).length }));`;
  return JSON.parse((await sh(process.execPath, ['--input-type=module', '-e', script])).stdout);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-package-'));
  app = join(dir, 'app');
  await mkdir(app);
  // The project is built already (the test runs from dist/): no prepare script.
  const packed = JSON.parse((await sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT })).stdout) as { filename: string; files: { path: string }[] }[];
  const files = new Set(packed[0].files.map((f) => f.path));
  for (const needed of ['package.json', 'README.md', 'binding.gyp', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/demo/index.js', 'dist/src/cli/main.js', 'dist/src/parallel/adapt-worker.js', 'dist/src/serve/server-worker.js', 'dist/src/kernels/fused-cnn-wasm.js', 'dist/src/kernels/fused-mlp-wasm.js']) {
    assert.ok(files.has(needed), `the tarball lacks ${needed}`);
  }
  for (const source of ['native/node-addon.c', 'native/fused-cnn.c', 'native/fused-cnn.h', 'native/freestanding-math.h']) assert.ok(files.has(source), `the tarball lacks ${source}`);
  // The demo page is built by `npm run build` (vite), which `npm test` runs first.
  if (existsSync(join(ROOT, 'dist', 'page', 'index.html'))) assert.ok(files.has('dist/page/index.html'), 'the tarball lacks the built page');
  assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('build/')), 'no tests or local builds in the tarball');

  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const installed = await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', join(dir, packed[0].filename)]);
  installOutput = installed.stdout + installed.stderr;
  addon = join(app, 'node_modules', pkg.name, 'build', 'Release', 'fused_native.node');
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the installed package: the reptile command runs and trains', { timeout: 300_000 }, async () => {
  assert.equal((await sh('npx', ['--no', '--', 'reptile', '--version'])).stdout.trim(), pkg.version);
  assert.match((await sh('npx', ['--no', '--', 'reptile', '--help'])).stdout, /^Usage: reptile .*\n[\s\S]*\btrain\b[\s\S]*\badapt\b/);
  const trained = await sh(join(app, 'node_modules', '.bin', 'reptile'), ['train', 'sine', '--meta-iters', '20', '--eval-interval', '0', '--eval-samples', '5', '--baseline', 'none', '--workers', '0', '--out', 'run']);
  assert.match(trained.stdout, /reptile: MSE on new tasks before adaptation [\d.]+, after 32 steps/);
  const summary = JSON.parse(readFileSync(join(app, 'run', 'summary.json'), 'utf8'));
  assert.equal(summary.algorithm, 'reptile');
  assert.ok(existsSync(join(app, 'run', 'charts', 'fits.png')), 'the charts are drawn (resvg) from the installed package');
});

test('the installed package: the library imports by name with its types, and runs', { timeout: 300_000 }, async () => {
  await writeFile(
    join(app, 'check.mts'),
    `import { useBackend, Rng, mlp, meanSquaredError, sgd, Reptile, SineDistribution, metaTrain, evaluateRegression, nativeKernelsStatus } from '${pkg.name}';
import { FewShotDemo } from '${pkg.name}/demo';

await useBackend('wasm');
const rng = Rng.fromSeed(0);
const tasks = new SineDistribution();
const model = mlp([1, 16, 1], { activation: 'tanh', init: 'pytorch' });
const loss = meanSquaredError();
const reptile = new Reptile({ model, loss, layout: tasks }, model.init(rng.fork()), { innerIters: 2, innerBatch: 10, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.02 }) });
await metaTrain(reptile, tasks, { tasks: rng.fork(), batches: rng.fork() }, { metaIters: 5, metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 });
const result = await evaluateRegression(model, loss, tasks, reptile.params, (r) => tasks.sampleEvalTask(r), { tasks: 2, evalIters: 2, evalBatch: 10, optimizer: sgd({ learningRate: 0.02 }) }, rng.fork());
const after: number = result.mseAfter;
// @ts-expect-error the status is a string: tsc reads the package's types (with no types this line has no error, which fails)
const wrong: number = nativeKernelsStatus();
reptile.dispose();
console.log(JSON.stringify({ after, wrong, demo: typeof FewShotDemo }));
`,
  );
  // Compiled (not --noEmit): the same file then runs, so the types checked are those of the code run.
  await sh(process.execPath, [TSC, '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'check.mts']);
  const out = JSON.parse((await sh(process.execPath, ['check.mjs'])).stdout);
  assert.ok(Number.isFinite(out.after) && out.after > 0, `the MSE after adaptation: ${out.after}`);
  assert.equal(out.demo, 'function');
  const imported = await importInNode();
  assert.ok(imported.root > 50 && imported.demo > 5, `exports: ${JSON.stringify(imported)}`);
});

test('the install script builds the native addon or prints its one-line fallback; npm rebuild builds it afterwards', { timeout: 300_000 }, async (t) => {
  const built = existsSync(addon);
  const missing = requirement('native', built, `the install script did not build the addon (${addon}); its output: ${installOutput.split('\n').filter((l) => /gyp ERR|error/i.test(l)).slice(0, 3).join(' | ')}`);
  if (missing) {
    // Without a compiler: the fallback message, and the library runs the kernels' WebAssembly builds.
    assert.ok(installOutput.split('\n').some((l) => l.startsWith(FALLBACK)), `no fallback message in the install output:\n${installOutput}`);
    assert.match((await importInNode()).status, /^not built/);
    t.skip(missing);
    return;
  }
  assert.match((await importInNode()).status, /^loaded/);
  // Forced failure (node-gyp finds no Node headers): one line says what is lost, the install still succeeds.
  const failed = await sh('npm', ['rebuild', pkg.name, '--foreground-scripts'], { env: { npm_config_nodedir: join(dir, 'no-headers') } });
  const lines = (failed.stdout + failed.stderr).split('\n').filter((l) => l.startsWith(FALLBACK));
  assert.equal(lines.length, 1, `one fallback line:\n${failed.stdout}\n${failed.stderr}`);
  assert.match(lines[0], /WebAssembly build instead/);
  assert.ok(!existsSync(addon), 'the failed build left no addon');
  assert.match((await importInNode()).status, /^not built/);
  // The README's commands to build it afterwards: approve the script (npm 11), then rebuild.
  const npmMajor = Number((await sh('npm', ['--version'])).stdout.split('.')[0]);
  if (npmMajor >= 11) {
    await sh('npm', ['install-scripts', 'approve', pkg.name]);
    const approved = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).allowScripts as Record<string, boolean>;
    assert.ok(Object.entries(approved).some(([key, value]) => key.includes(pkg.name) && value), `allowScripts: ${JSON.stringify(approved)}`);
    assert.doesNotMatch((await sh('npm', ['install-scripts', 'ls'])).stdout, new RegExp(pkg.name), 'approved: no longer listed');
  } else t.diagnostic(`npm ${npmMajor} has no install-scripts command (npm 11 does)`);
  await sh('npm', ['rebuild', pkg.name]);
  assert.ok(existsSync(addon), 'npm rebuild built the addon');
  assert.match((await importInNode()).status, /^loaded/);
});
