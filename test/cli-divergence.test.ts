/**
 * A run whose training loss stops being finite: exit code 1, one error line saying where it
 * diverged and which flag to change, and the files written before it kept.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from './support/cli.js';

const TINY = ['--eval-samples', '5', '--eval-interval-samples', '3', '--eval-iters', '4', '--baseline', 'none'];

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-cli-divergence-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Checks the error report and returns the meta-iteration it names. */
function checkDivergenceReport({ code, stdout, stderr }: CliResult, learningRate: string): number {
  assert.equal(code, 1, `exit code; stderr:\n${stderr}`);
  assert.ok(!stderr.includes('    at '), `no stack trace:\n${stderr}`);
  // Progress lines may precede it on stderr; the error itself is one line, the last one.
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, `one error line:\n${stderr}`);
  assert.equal(lines.at(-1), errors[0]);
  const match = /meta-iteration (\d+)/.exec(errors[0]);
  assert.ok(match, `names the meta-iteration: ${errors[0]}`);
  assert.ok(errors[0].includes('--learning-rate'), `names --learning-rate: ${errors[0]}`);
  assert.ok(errors[0].includes(learningRate), `gives the value used: ${errors[0]}`);
  assert.ok(!/MSE|meta-iterations\/s/.test(stdout), `no run results on stdout:\n${stdout}`);
  return Number(match[1]);
}

test('a huge --learning-rate diverges at once: exit 1, config.json kept, no summary', async () => {
  const out = join(dir, 'huge');
  const result = await runCli(['train', 'sine', '--learning-rate', '1e6', '--meta-iters', '20', '--eval-interval', '10', ...TINY, '--out', out]);
  const iteration = checkDivergenceReport(result, '1000000');
  assert.equal(iteration, 1);
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(config.learningRate, 1e6);
  assert.equal(existsSync(join(out, 'summary.json')), false);
  assert.equal(existsSync(join(out, 'model', 'model.json')), false);
});

test('a run that diverges after a few meta-iterations keeps its metrics.jsonl', async () => {
  const out = join(dir, 'later');
  // With these settings (seed 0) the loss overflows after a few meta-iterations; an evaluation
  // after every one of them writes metrics lines before that.
  const result = await runCli(['train', 'sine', '--learning-rate', '0.5', '--meta-iters', '100', '--eval-interval', '1', ...TINY, '--out', out]);
  const iteration = checkDivergenceReport(result, '0.5');
  assert.ok(iteration >= 2 && iteration < 100, `diverged at ${iteration}`);
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(config.learningRate, 0.5);
  const points = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  // Every evaluation point before the divergence, each a complete JSON line.
  assert.deepEqual(points.map((p) => p.iteration), Array.from({ length: iteration - 1 }, (_, i) => i + 1));
  for (const p of points) assert.equal(typeof p.elapsedSeconds, 'number');
  assert.equal(existsSync(join(out, 'summary.json')), false);
});
