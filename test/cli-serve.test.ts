/**
 * `reptile serve` and `reptile dashboard` from the command line: serving a real (tiny) run until
 * SIGTERM, --export as static files (refusing a non-empty directory, which stays untouched),
 * and bad input as one-line usage errors with exit code 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLineUsageError, hashTree, runCli, runOk } from './support/cli.js';
import { startServed } from './support/served.js';
import { isLoopback } from '../src/cli/serve-command.js';

let root: string;
let run: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-cli-serve-'));
  run = join(root, 'runs', 'sine-tiny');
  await runOk(['train', 'sine', '--meta-iters', '20', '--eval-interval', '10', '--eval-interval-samples', '2', '--eval-samples', '4', '--baseline', 'none', '--out', run]);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('reptile serve RUN_DIR serves the page and the run on 127.0.0.1 until SIGTERM', async () => {
  const served = await startServed(['serve', run, '--port', '0']);
  assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/sine\.html\?run=sine-tiny$/);
  const base = new URL('/', served.url);
  const runs = (await (await fetch(new URL('runs.json', base))).json()) as { name: string; state: string }[];
  assert.deepEqual(runs.map((r) => [r.name, r.state]), [['sine-tiny', 'finished']]);
  const model = await fetch(new URL('runs/sine-tiny/model/model.json', base));
  assert.equal(model.status, 200);
  const page = await (await fetch(new URL('sine.html', base))).text();
  assert.match(page, /Fit a sine wave/);
  served.child.kill('SIGTERM');
  const result = await served.done;
  assert.equal(result.code, 0, result.stderr);
});

test('reptile dashboard RUNS_DIR lists the runs in the folder', async () => {
  const served = await startServed(['dashboard', join(root, 'runs'), '--port', '0']);
  assert.match(served.url, /dashboard\.html$/);
  const runs = (await (await fetch(new URL('/runs.json', served.url))).json()) as { name: string }[];
  assert.deepEqual(runs.map((r) => r.name), ['sine-tiny']);
  served.child.kill('SIGTERM');
  assert.equal((await served.done).code, 0);
});

test('--export writes the page and the run as static files with the server\'s URLs', async () => {
  const out = join(root, 'static');
  const result = await runOk(['serve', run, '--export', out]);
  assert.match(result.stdout, /Written to/);
  for (const file of ['index.html', 'sine.html', 'dashboard.html', 'runs.json', 'runs/sine-tiny/config.json', 'runs/sine-tiny/model/model.json', 'runs/sine-tiny/model/weights.bin', 'runs/sine-tiny/run.json']) {
    assert.ok(existsSync(join(out, file)), file);
  }
  assert.ok(!existsSync(join(out, 'runs/sine-tiny/checkpoint')), 'no checkpoints');
  const listed = JSON.parse(await readFile(join(out, 'runs.json'), 'utf8'));
  assert.equal(listed[0].name, 'sine-tiny');
  assert.deepEqual(await readFile(join(out, 'runs/sine-tiny/model/weights.bin')), await readFile(join(run, 'model/weights.bin')));
});

test('--export refuses a directory that is not empty, and leaves it as it was', async () => {
  const out = join(root, 'occupied');
  await mkdir(out);
  await writeFile(join(out, 'index.html'), 'mine');
  const before = await hashTree(out);
  assertOneLineUsageError(await runCli(['serve', run, '--export', out]), ['--export', 'not empty'], 'non-empty export dir');
  assert.deepEqual(await hashTree(out), before);
});

test('bad input: a missing or non-run directory, a bad or busy port', async () => {
  assertOneLineUsageError(await runCli(['serve', join(root, 'missing')]), ['serve', 'no such directory'], 'missing run dir');
  const empty = join(root, 'empty');
  await mkdir(empty);
  assertOneLineUsageError(await runCli(['serve', empty]), ['no config.json'], 'not a run');
  assertOneLineUsageError(await runCli(['dashboard', join(root, 'missing')]), ['dashboard', 'no such directory'], 'missing runs dir');
  assertOneLineUsageError(await runCli(['serve', run, '--port', '70000']), ['--port', '65535'], 'port out of range');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    assertOneLineUsageError(await runCli(['serve', run, '--port', String(port)]), ['--port', 'already in use'], 'busy port');
  } finally {
    busy.close();
  }
});

test('loopback addresses get no warning; any other --host does', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(isLoopback(host), true, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org', '127.0.0.1.nip.io']) assert.equal(isLoopback(host), false, host);
});

test('train --dashboard on a busy port is a usage error before anything is trained', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const out = join(root, 'runs', 'never');
  try {
    assertOneLineUsageError(await runCli(['train', 'sine', '--meta-iters', '5', '--dashboard', String(port), '--out', out]), ['--dashboard', 'already in use'], 'busy dashboard port');
  } finally {
    busy.close();
  }
});
