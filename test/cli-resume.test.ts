/**
 * `reptile train --resume DIR`: a run killed with SIGKILL at any moment (during the algorithm
 * phase, between the phases, during the baseline phase) and resumed, possibly several times,
 * ends with the same summary numbers, metrics.jsonl (but elapsedSeconds), model and charts as an
 * uninterrupted run. A run killed before its first checkpoint, a directory without a run, extra
 * settings and damaged checkpoints are one-line usage errors (exit 2) that change nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLineUsageError, hashTree, killRunningClis, readJson, runCli, runOk, startCli, type CliResult } from './support/cli.js';

/** A tiny sine run; the Adam outer update gives the algorithm phase optimizer state to restore. */
const SETTINGS = ['--meta-iters', '300', '--eval-interval', '50', '--eval-samples', '20', '--eval-interval-samples', '5', '--eval-iters', '8', '--seed', '5', '--meta-optimizer', 'adam'];
const RUN = [...SETTINGS, '--checkpoint-interval', '50'];

/**
 * Starts `args`, polls `moment` every few milliseconds and kills the process with SIGKILL as soon
 * as it holds. Fails if the process ends first.
 */
async function killWhen(args: string[], what: string, moment: () => boolean): Promise<void> {
  const run = startCli(args);
  let ended = false;
  void run.done.then(() => (ended = true));
  try {
    while (!ended && !moment()) await new Promise((r) => setTimeout(r, 3));
    if (!ended) run.child.kill('SIGKILL');
    const result = await run.done;
    assert.equal(result.signal, 'SIGKILL', `reptile ${args.join(' ')} ended (${result.code}) before the moment "${what}":\n${result.stderr}`);
  } finally {
    run.child.kill('SIGKILL');
  }
}

function metricLines(dir: string): { algorithm: string; iteration: number }[] {
  let text = '';
  try {
    text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split('\n')) {
    try {
      if (line.trim()) out.push(JSON.parse(line));
    } catch {
      // a line being written
    }
  }
  return out;
}

/** Phase and iteration of the run's checkpoint, read from its JSON header (no TensorFlow needed). */
function checkpointAt(dir: string): { phase: number; iteration: number } | undefined {
  const path = join(dir, 'checkpoint', 'state.bin');
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'));
  return { phase: header.extra.phase, iteration: header.iteration };
}

async function metricsWithoutTime(dir: string): Promise<Record<string, unknown>[]> {
  const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l.trim() !== '');
  return lines.map((l) => {
    const m = JSON.parse(l);
    assert.equal(typeof m.elapsedSeconds, 'number');
    delete m.elapsedSeconds;
    return m;
  });
}

let root: string;
let runA: string;
let finishedA: Promise<CliResult>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-resume-'));
  runA = join(root, 'A');
  // The uninterrupted reference run, in the background while the interrupted ones start.
  finishedA = runCli(['train', 'sine', ...RUN, '--out', runA]);
});

after(async () => {
  killRunningClis();
  await rm(root, { recursive: true, force: true });
});

async function referenceRun(): Promise<string> {
  const result = await finishedA;
  assert.equal(result.code, 0, `the uninterrupted run failed:\n${result.stderr}`);
  return runA;
}

/** B's results are A's: summary numbers, metrics but their times, model, charts. */
async function assertSameResults(a: string, b: string): Promise<void> {
  const [sa, sb] = [await readJson(join(a, 'summary.json')), await readJson(join(b, 'summary.json'))];
  for (const key of ['benchmark', 'algorithm', 'metaIters', 'eval']) assert.deepEqual(sb[key], sa[key], `summary.json ${key}`);
  assert.ok(sa.baseline, 'the reference run has a baseline');
  assert.equal(sb.baseline?.algorithm, sa.baseline.algorithm, 'summary.json baseline.algorithm');
  assert.deepEqual(sb.baseline?.eval, sa.baseline.eval, 'summary.json baseline.eval');
  const [ma, mb] = [await metricsWithoutTime(a), await metricsWithoutTime(b)];
  assert.equal(mb.length, ma.length, 'number of metrics.jsonl lines');
  assert.deepEqual(mb, ma, 'metrics.jsonl without elapsedSeconds');
  assert.equal(ma.length, 12, '6 evaluation points per phase');
  for (const f of ['model/weights.bin', 'model/model.json', 'charts/learning-curve.svg', 'charts/fits.svg']) {
    assert.ok((await readFile(join(b, f))).equals(await readFile(join(a, f))), `${f} differs from the uninterrupted run's`);
  }
}

describe('reptile train --resume', { concurrency: true }, () => {
  test('killed during the algorithm phase, between the phases and during the baseline, then resumed each time: same results as without interruption', async () => {
    const b = join(root, 'B');
    const resume = ['train', '--resume', b];

    // 1. During the algorithm phase, right after an evaluation point was written and (possibly)
    //    before its checkpoint: metrics.jsonl may hold a line newer than the checkpoint.
    await killWhen(['train', 'sine', ...RUN, '--out', b], 'reptile evaluated at 100', () =>
      metricLines(b).some((m) => m.algorithm === 'reptile' && m.iteration >= 100),
    );
    const first = checkpointAt(b);
    assert.ok(first && first.phase === 0 && first.iteration >= 50 && first.iteration < 300, `killed during the algorithm phase, checkpoint at ${JSON.stringify(first)}`);
    assert.ok(!existsSync(join(b, 'summary.json')));

    // 2. Resumed, then killed as soon as the algorithm's model is exported (the baseline has not
    //    reached its first checkpoint): the checkpoint is the algorithm's last one.
    await killWhen(resume, 'the model export', () => existsSync(join(b, 'model', 'weights.bin')));
    const second = checkpointAt(b);
    assert.deepEqual(second, { phase: 0, iteration: 300 }, 'killed between the phases');

    // 3. Resumed, then killed during the baseline phase.
    await killWhen(resume, 'joint evaluated at 150', () => metricLines(b).some((m) => m.algorithm === 'joint' && m.iteration >= 150));
    const third = checkpointAt(b);
    assert.ok(third && third.phase === 1 && third.iteration >= 100 && third.iteration < 300, `killed during the baseline phase, checkpoint at ${JSON.stringify(third)}`);

    // 4. Resumed to the end.
    const last = await runOk(resume);
    assert.match(last.stdout, /meta-iterations\/s/);
    await assertSameResults(await referenceRun(), b);
    // The resumed run's settings are the recorded ones: config.json is untouched by resuming.
    const [ca, cb] = [await readJson(join(runA, 'config.json')), await readJson(join(b, 'config.json'))];
    for (const key of ['metaIters', 'evalInterval', 'checkpointInterval', 'seed', 'learningRate', 'baseline', 'algorithm', 'metaOptimizer']) assert.deepEqual(cb[key], ca[key], `config.json ${key}`);
  });

  test('checkpoints between evaluation points, killed during the baseline phase: one resume finishes it identically', async () => {
    // Checkpoints every 35 iterations, evaluations every 50: the checkpoint carries a partial
    // training-loss sum that the resumed session must continue (checkpointing itself must not
    // change any number, so the reference is still run A).
    const c = join(root, 'C');
    const args = ['train', 'sine', ...SETTINGS, '--checkpoint-interval', '35', '--out', c];
    await killWhen(args, 'joint evaluated at 50', () => metricLines(c).some((m) => m.algorithm === 'joint'));
    const at = checkpointAt(c);
    // The kill lands a little after the evaluation at 50 (later on a loaded machine: the fused
    // loop runs ~1000 iterations/s), so the checkpoint is the phase's 35th, 70th, ... iteration.
    const between = (i: number) => i % 35 === 0 && i % 50 !== 0 && i < 300;
    assert.ok(at && ((at.phase === 1 && between(at.iteration)) || (at.phase === 0 && at.iteration === 300)), `killed during the baseline phase, checkpoint at ${JSON.stringify(at)}`);
    await runOk(['train', '--resume', c]);
    await assertSameResults(await referenceRun(), c);
  });

  test('killed before its first checkpoint: --resume is a one-line usage error naming the missing checkpoint, and changes nothing', async () => {
    const d = join(root, 'D');
    await killWhen(['train', 'sine', ...RUN, '--out', d], 'config.json written', () => existsSync(join(d, 'config.json')));
    assert.equal(checkpointAt(d), undefined, 'killed before the first checkpoint');
    const before = await hashTree(d);
    const result = await runCli(['train', '--resume', d]);
    assertOneLineUsageError(result, /checkpoint/, '--resume without a checkpoint');
    assert.ok(result.stderr.includes(join(d, 'checkpoint', 'state.bin')), `names the missing file: ${result.stderr}`);
    assert.deepEqual(await hashTree(d), before, 'the run directory is unchanged');
  });

  test('--resume with a benchmark or any setting is a usage error that changes nothing', async () => {
    const a = await referenceRun();
    const before = await hashTree(a);
    const cases: [string[], RegExp][] = [
      [['train', 'sine', '--resume', a], /drop 'sine'/],
      [['train', '--resume', a, '--seed', '5'], /drop --seed/],
      [['train', '--resume', a, '--meta-iters', '600'], /drop --meta-iters/],
      [['train', '--resume', a, '--out', join(root, 'elsewhere')], /drop --out/],
      [['train', '--resume', a, '--force'], /drop --force/],
      [['train', '--resume', a, '--config', join(a, 'config.json')], /drop --config/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((result, i) => {
      const [args, pattern] = cases[i];
      assertOneLineUsageError(result, pattern, args.join(' '));
      assert.match(result.stderr, /recorded settings/);
    });
    assert.ok(!existsSync(join(root, 'elsewhere')));
    assert.deepEqual(await hashTree(a), before, 'the run directory is unchanged');
  });

  test('--resume of a finished run is a usage error that points to reptile eval and changes nothing', async () => {
    const a = await referenceRun();
    const before = await hashTree(a);
    const result = await runCli(['train', '--resume', a]);
    assertOneLineUsageError(result, /finished.*reptile eval/, '--resume of a finished run');
    assert.deepEqual(await hashTree(a), before, 'the run directory is unchanged');
  });

  test('--resume of a directory without a run is a one-line usage error', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const notRun = join(root, 'not-a-run');
    await mkdir(join(notRun, 'checkpoint'), { recursive: true });
    await writeFile(join(notRun, 'notes.txt'), 'mine\n');
    const file = join(root, 'a-file');
    await writeFile(file, 'x\n');
    const dirs = [join(root, 'missing'), empty, notRun, file];
    const results = await Promise.all(dirs.map((d) => runCli(['train', '--resume', d])));
    results.forEach((result, i) => assertOneLineUsageError(result, new RegExp(`--resume ${dirs[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no run there`), `--resume ${dirs[i]}`));
    assert.deepEqual(await readdir(empty), []);
    assert.deepEqual((await readdir(notRun)).sort(), ['checkpoint', 'notes.txt']);
    assert.deepEqual(await readdir(join(notRun, 'checkpoint')), []);
    assert.ok(!existsSync(join(root, 'missing')));
  });

  test('a damaged checkpoint (flipped byte, truncated, in state.bin or a finished phase\'s) is a clear usage error that changes nothing', async () => {
    const a = await referenceRun();
    const cases: { name: string; file: string; damage: (path: string) => Promise<void>; pattern: RegExp }[] = [
      {
        name: 'flipped',
        file: 'state.bin',
        damage: async (p) => {
          const bytes = await readFile(p);
          bytes[bytes.length >> 1] ^= 0x40;
          await writeFile(p, bytes);
        },
        pattern: /checksum/,
      },
      { name: 'truncated', file: 'state.bin', damage: (p) => truncate(p, 1000), pattern: /truncated|corrupt/ },
      {
        name: 'phase0',
        file: 'phase0.bin',
        damage: async (p) => {
          const bytes = await readFile(p);
          bytes[bytes.length - 100] ^= 0x01;
          await writeFile(p, bytes);
        },
        pattern: /checksum/,
      },
    ];
    const dirs: string[] = [];
    const befores: Map<string, string>[] = [];
    for (const c of cases) {
      const d = join(root, `damaged-${c.name}`);
      await cp(a, d, { recursive: true });
      // An unfinished run (a finished one is refused before its checkpoint is read).
      await rm(join(d, 'summary.json'));
      // An evaluation line newer than the checkpoint, as a kill can leave: it must survive too.
      await writeFile(join(d, 'metrics.jsonl'), (await readFile(join(d, 'metrics.jsonl'), 'utf8')) + '{"iteration":350,"algorithm":"joint","elapsedSeconds":1}\n');
      await c.damage(join(d, 'checkpoint', c.file));
      dirs.push(d);
      befores.push(await hashTree(d));
    }
    const results = await Promise.all(dirs.map((d) => runCli(['train', '--resume', d])));
    for (let i = 0; i < cases.length; i++) {
      const what = `--resume with a ${cases[i].name} ${cases[i].file}`;
      assertOneLineUsageError(results[i], cases[i].pattern, what);
      assert.ok(results[i].stderr.includes(join(dirs[i], 'checkpoint', cases[i].file)), `${what}: names the file: ${results[i].stderr}`);
      assert.deepEqual(await hashTree(dirs[i]), befores[i], `${what}: the run directory is unchanged`);
    }
  });
});
