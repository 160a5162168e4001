/**
 * `reptile train --resume DIR`: a run killed with SIGKILL at any point (after a meta-iteration of
 * the algorithm phase, after an evaluation before its checkpoint, during a checkpoint write, after
 * the model export between the phases, during the baseline phase) and resumed, possibly several
 * times, ends with the same summary numbers, metrics.jsonl (but elapsedSeconds), model and charts
 * as an uninterrupted run. Every kill is the run's own, at a named point (the test hook
 * REPTILE_TEST_KILL_AT, docs/cli.md), so no test depends on timing. A run killed before its first
 * checkpoint, a directory without a run, arguments that differ from the recorded settings and
 * damaged checkpoints are one-line usage errors (exit 2) that change nothing. The run's own
 * arguments with --resume appended resume it like a bare --resume.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertOneLineUsageError,
  assertSameResults as assertSameRun,
  checkpointAt,
  hashTree,
  killRunningClis,
  readJson,
  readJsonLines,
  runCli,
  runKilledAt,
  runOk,
  type CliResult,
} from './support/cli.js';

/** A tiny sine run; the Adam outer update gives the algorithm phase optimizer state to restore. */
const SETTINGS = ['--meta-iters', '300', '--eval-interval', '50', '--eval-samples', '20', '--eval-interval-samples', '5', '--eval-iters', '8', '--seed', '5', '--meta-optimizer', 'adam'];
const RUN = [...SETTINGS, '--checkpoint-interval', '50'];

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

/** B's results are A's (summary numbers, metrics but their times, model, charts); both phases evaluated 6 times. */
async function assertSameResults(a: string, b: string): Promise<void> {
  assert.ok((await readJson(join(a, 'summary.json'))).baseline, 'the reference run has a baseline');
  await assertSameRun(a, b);
  assert.equal((await readJsonLines(join(a, 'metrics.jsonl'))).length, 12, '6 evaluation points per phase');
}

/** The temporary files a checkpoint write left in the run's checkpoint/ folder. */
async function temporaries(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'checkpoint'))).filter((f) => f.endsWith('.tmp'));
}

describe('reptile train --resume', { concurrency: true }, () => {
  // Points of a run, each killed there once (in its own run directory) and resumed to the end; the
  // chained test below kills one run after an evaluation, after the model export and after a
  // baseline evaluation. The checkpoint a kill leaves is exact: the hook fires at a named point.
  const points: { point: string; where: string; checkpoint: { phase: number; iteration: number }; check?: (dir: string) => Promise<void> }[] = [
    { point: 'training:0:130', where: 'after a meta-iteration of the algorithm phase, between evaluations', checkpoint: { phase: 0, iteration: 100 } },
    {
      point: 'checkpoint-write:0:200',
      where: 'during a checkpoint write (written, not renamed)',
      checkpoint: { phase: 0, iteration: 150 },
      check: async (dir) => assert.equal((await temporaries(dir)).length, 1, 'the half-done write left its temporary file'),
    },
    { point: 'training:joint:120', where: 'during the baseline phase', checkpoint: { phase: 1, iteration: 100 } },
    { point: 'checkpoint-write:1:300', where: "during the baseline's last checkpoint write", checkpoint: { phase: 1, iteration: 250 } },
  ];
  for (const { point, where, checkpoint, check } of points) {
    test(`killed ${where} (${point}), then resumed: same results as without interruption`, async () => {
      const dir = join(root, `at-${point.replace(/:/g, '-')}`);
      await runKilledAt(['train', 'sine', ...RUN, '--out', dir], point);
      assert.deepEqual(checkpointAt(dir), checkpoint, `the checkpoint a kill at ${point} leaves`);
      assert.ok(!existsSync(join(dir, 'summary.json')));
      await check?.(dir);
      const last = await runOk(['train', '--resume', dir]);
      assert.match(last.stdout, /meta-iterations\/s/);
      assert.deepEqual(await temporaries(dir), [], 'no temporary file is left');
      await assertSameResults(await referenceRun(), dir);
    });
  }

  test('killed during the algorithm phase, between the phases and during the baseline, then resumed each time: same results as without interruption', async () => {
    const b = join(root, 'B');
    const resume = ['train', '--resume', b];

    // 1. During the algorithm phase, right after an evaluation point was written and before its
    //    checkpoint: metrics.jsonl holds a line newer than the checkpoint.
    await runKilledAt(['train', 'sine', ...RUN, '--out', b], 'evaluation:reptile:100');
    assert.deepEqual(checkpointAt(b), { phase: 0, iteration: 50 }, 'killed during the algorithm phase');
    assert.ok((await readJsonLines(join(b, 'metrics.jsonl'))).some((m) => m.algorithm === 'reptile' && m.iteration === 100), 'the evaluation at 100 is in metrics.jsonl');
    assert.ok(!existsSync(join(b, 'summary.json')));

    // 2. Resumed, then killed as soon as the algorithm's model is exported (the baseline has not
    //    reached its first checkpoint): the checkpoint is the algorithm's last one.
    await runKilledAt(resume, 'model-export');
    assert.ok(existsSync(join(b, 'model', 'weights.bin')));
    assert.deepEqual(checkpointAt(b), { phase: 0, iteration: 300 }, 'killed between the phases');

    // 3. Resumed as people do it, with the run's own command and --resume appended (--force
    //    included: a resumed run is continued, never replaced), then killed during the baseline
    //    phase, after its evaluation at 150.
    await runKilledAt(['train', 'sine', ...RUN, '--out', b, '--force', '--resume', b], 'evaluation:joint:150');
    assert.deepEqual(checkpointAt(b), { phase: 1, iteration: 100 }, 'killed during the baseline phase');

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
    await runKilledAt(['train', 'sine', ...SETTINGS, '--checkpoint-interval', '35', '--out', c], 'evaluation:joint:50');
    assert.deepEqual(checkpointAt(c), { phase: 1, iteration: 35 }, 'killed during the baseline phase, between checkpoints');
    // Resumed with the same arguments, given partly through a --config file this time.
    const settings = join(root, 'C-settings.json');
    await writeFile(settings, JSON.stringify({ metaIters: 300, seed: 5, checkpointInterval: 35 }));
    const rest = SETTINGS.filter((_, i) => !['--meta-iters', '--seed'].includes(SETTINGS[i - (i % 2)]));
    await runOk(['train', 'sine', '--config', settings, ...rest, '--out', c, '--resume', c]);
    await assertSameResults(await referenceRun(), c);
  });

  test('killed before its first checkpoint: --resume is a one-line usage error naming the missing checkpoint, and changes nothing', async () => {
    const d = join(root, 'D');
    await runKilledAt(['train', 'sine', ...RUN, '--out', d], 'training:0:1');
    assert.ok(existsSync(join(d, 'config.json')), 'config.json written');
    assert.equal(checkpointAt(d), undefined, 'killed before the first checkpoint');
    const before = await hashTree(d);
    const result = await runCli(['train', '--resume', d]);
    assertOneLineUsageError(result, /checkpoint/, '--resume without a checkpoint');
    assert.ok(result.stderr.includes(join(d, 'checkpoint', 'state.bin')), `names the missing file: ${result.stderr}`);
    assert.deepEqual(await hashTree(d), before, 'the run directory is unchanged');
  });

  test('a malformed test hook, or a point the run never reaches, is a one-line usage error that writes nothing', async () => {
    const cases: [string, Record<string, string>, (string | RegExp)[]][] = [
      ['no such point', { REPTILE_TEST_KILL_AT: 'soon' }, ['REPTILE_TEST_KILL_AT=soon', 'training:<phase>:<iteration>']],
      ['no iteration', { REPTILE_TEST_KILL_AT: 'training:0' }, ['REPTILE_TEST_KILL_AT=training:0', 'not a point']],
      ['iteration 0', { REPTILE_TEST_KILL_AT: 'evaluation:0:0' }, ['not a point']],
      ['past the end', { REPTILE_TEST_KILL_AT: 'training:0:301' }, ['training:0:301', '300 meta-iterations']],
      ['no such phase', { REPTILE_TEST_KILL_AT: 'training:maml:10' }, ['training:maml:10', '0 (reptile), 1 (joint)']],
      ['no evaluation there', { REPTILE_TEST_KILL_AT: 'evaluation:0:120' }, ['evaluation:0:120', '--eval-interval 50']],
      ['no checkpoint there', { REPTILE_TEST_PAUSE_AT: 'checkpoint-write:1:70', REPTILE_TEST_PAUSE_FILE: join(root, 'go') }, ['REPTILE_TEST_PAUSE_AT=checkpoint-write:1:70', '--checkpoint-interval 50']],
      ['a pause without its file', { REPTILE_TEST_PAUSE_AT: 'training:0:10' }, ['REPTILE_TEST_PAUSE_FILE']],
    ];
    const results = await Promise.all(cases.map(([, env], i) => runCli(['train', 'sine', ...RUN, '--out', join(root, `hook-${i}`)], { env })));
    results.forEach((result, i) => {
      assertOneLineUsageError(result, cases[i][2], cases[i][0]);
      assert.ok(!existsSync(join(root, `hook-${i}`)), `${cases[i][0]}: no run directory`);
    });
    // The model export is followed by a baseline phase only.
    const alone = await runCli(['train', 'sine', ...RUN, '--baseline', 'none', '--out', join(root, 'hook-alone')], { env: { REPTILE_TEST_KILL_AT: 'model-export' } });
    assertOneLineUsageError(alone, ['model-export', '--baseline none'], 'model-export without a baseline');
  });

  test('--resume with arguments that differ from the recorded settings is a usage error naming each one with both values, and changes nothing', async () => {
    const a = await referenceRun();
    const before = await hashTree(a);
    const seven = join(root, 'seed-7.json');
    await writeFile(seven, JSON.stringify({ seed: 7 }));
    const cases: [string[], RegExp[]][] = [
      [['train', 'omniglot', '--resume', a], [/benchmark 'omniglot' \(recorded 'sine'\)/]],
      [['train', '--resume', a, '--seed', '6'], [/--seed 6 \(recorded 5\)/]],
      [['train', 'sine', ...RUN, '--meta-iters', '600', '--out', a, '--resume', a], [/--meta-iters 600 \(recorded 300\)/]],
      [['train', '--resume', a, '--seed', '6', '--learning-rate', '0.5'], [/--seed 6 \(recorded 5\)/, /--learning-rate 0.5 \(recorded 0.02\)/]],
      // The arguments a new run would resolve to: a bare benchmark means its defaults, which differ.
      [['train', 'sine', '--resume', a], [/--meta-iters 30000 \(recorded 300\)/, /--seed 0 \(recorded 5\)/, /--meta-optimizer "interpolate" \(recorded "adam"\)/]],
      [['train', 'sine', ...RUN, '--out', join(root, 'elsewhere'), '--resume', a], [/--out ".*elsewhere" \(the run is in ".*A"\)/]],
      [['train', '--resume', a, '--config', seven], [/--seed 7 \(recorded 5\)/]],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((result, i) => {
      const [args, patterns] = cases[i];
      assertOneLineUsageError(result, /recorded settings, and these arguments differ/, args.join(' '));
      for (const pattern of patterns) assert.match(result.stderr, pattern, args.join(' '));
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
