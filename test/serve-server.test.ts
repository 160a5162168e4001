/**
 * The server behind `reptile serve` / `reptile dashboard` (src/serve): binds 127.0.0.1 by
 * default; serves a run's own files and nothing outside the run folders and the page (encoded
 * '..', encoded slashes, backslashes, NUL, symlinks out, checkpoints); describes a malformed or
 * half-written run as an error instead of crashing; streams metrics lines as they are appended
 * (server-sent events), leaving a half-written last line for later.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { runsFolder } from '../src/serve/run-source.js';
import { runFilePath } from '../src/serve/safe-path.js';
import { parseMetrics } from '../src/serve/run-status.js';

let root: string;
let server: RunningServer;
const SECRET = 'top secret, outside every run';

/** A raw GET: the path goes out exactly as written (fetch would normalise '..'). */
function get(path: string): Promise<{ status: number; body: string; type: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const config = (benchmark = 'sine') => JSON.stringify({ benchmark, algorithm: 'reptile', metaIters: 10 });
const point = (iteration: number) => JSON.stringify({ iteration, elapsedSeconds: iteration / 10, algorithm: 'reptile', mseAfter: 1 / (iteration + 1) }) + '\n';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-serve-'));
  const runs = join(root, 'runs');
  const page = join(root, 'page');
  await mkdir(page);
  await writeFile(join(page, 'index.html'), '<!doctype html><title>page</title>');
  await writeFile(join(root, 'secret.txt'), SECRET);
  await writeFile(join(runs, '..', 'runs-secret.json'), SECRET).catch(() => {});
  // A finished run with a model, a checkpoint and a link out of the run.
  const done = join(runs, 'done');
  await mkdir(join(done, 'model'), { recursive: true });
  await mkdir(join(done, 'checkpoint'));
  await writeFile(join(done, 'config.json'), config());
  await writeFile(join(done, 'summary.json'), JSON.stringify({ eval: { mseBefore: 4, mseAfter: 0.5, ci95: 0.1 } }));
  await writeFile(join(done, 'metrics.jsonl'), point(0) + point(5));
  await writeFile(join(done, 'model', 'model.json'), '{"weightsManifest":[]}');
  await writeFile(join(done, 'checkpoint', 'state.bin'), 'checkpoint bytes');
  await symlink(join(root, 'secret.txt'), join(done, 'model', 'weights.bin'));
  // A run being written: its last metrics line is cut in half.
  const running = join(runs, 'running');
  await mkdir(running, { recursive: true });
  await writeFile(join(running, 'config.json'), config());
  await writeFile(join(running, 'metrics.jsonl'), point(0) + '{"iteration": 1, "elaps');
  // Damaged runs: invalid JSON, a broken metrics line in the middle, a summary that is an array.
  for (const [name, files] of Object.entries({
    'bad-config': { 'config.json': '{"benchmark": "sine", ' },
    'bad-metrics': { 'config.json': config(), 'metrics.jsonl': point(0) + 'not json\n' + point(2) },
    'bad-summary': { 'config.json': config(), 'summary.json': '[1, 2]' },
    'only-metrics': { 'metrics.jsonl': point(0) },
  })) {
    await mkdir(join(runs, name), { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(runs, name, file), text);
  }
  await mkdir(join(runs, 'not-a-run'));
  server = await startServer({ source: runsFolder(runs), pageDir: page, port: 0, pollMs: 50 });
});

after(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

test('binds 127.0.0.1 unless told otherwise', () => {
  const address = server.server.address();
  assert.ok(typeof address === 'object' && address);
  assert.equal(address.address, '127.0.0.1');
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

test('runs.json lists the run folders with their state; damaged ones with an error, not a crash', async () => {
  const res = await get('/runs.json');
  assert.equal(res.status, 200);
  const runs = JSON.parse(res.body) as { name: string; state: string; error?: string; points: number }[];
  const byName = Object.fromEntries(runs.map((r) => [r.name, r]));
  assert.deepEqual(Object.keys(byName).sort(), ['bad-config', 'bad-metrics', 'bad-summary', 'done', 'only-metrics', 'running']);
  assert.equal(byName.done.state, 'finished');
  assert.equal(byName.done.points, 2);
  assert.equal(byName.running.state, 'running');
  assert.equal(byName.running.points, 1, 'the half-written line is not a point yet');
  assert.match(byName['bad-config'].error!, /config\.json is not valid JSON/);
  assert.match(byName['bad-metrics'].error!, /metrics\.jsonl line 2 is not valid JSON/);
  assert.match(byName['bad-summary'].error!, /summary\.json is not a JSON object/);
  assert.match(byName['only-metrics'].error!, /no config\.json/);
  for (const name of ['bad-config', 'bad-metrics']) {
    const run = await get(`/runs/${name}/run.json`);
    assert.equal(run.status, 200);
    assert.equal(JSON.parse(run.body).state, 'error');
  }
  assert.equal((await get('/runs.json')).status, 200, 'still serving');
});

test("a run's own files are served; checkpoints and unknown files are not", async () => {
  const configRes = await get('/runs/done/config.json');
  assert.equal(configRes.status, 200);
  assert.equal(configRes.type, 'application/json');
  assert.equal(JSON.parse(configRes.body).benchmark, 'sine');
  assert.equal((await get('/runs/done/model/model.json')).status, 200);
  assert.equal((await get('/runs/done/metrics.jsonl')).body, point(0) + point(5));
  for (const path of ['/runs/done/checkpoint/state.bin', '/runs/done/notes.txt', '/runs/nope/config.json', '/runs/not-a-run/config.json']) {
    assert.equal((await get(path)).status, 404, path);
  }
});

test('no path traversal: encoded dots, slashes, backslashes and NUL, and symlinks out of a run', async () => {
  const attempts = [
    '/runs/done/../../secret.txt',
    '/runs/done/%2e%2e/%2e%2e/secret.txt',
    '/runs/done/%2E%2E%2F%2E%2E%2Fsecret.txt',
    '/runs/done/model/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt',
    '/runs/done/..%5c..%5csecret.txt',
    '/runs/done/config.json%00.png',
    '/runs/%2e%2e/secret.txt',
    '/runs/%2e%2e/runs/done/config.json',
    '/runs/..%2f..%2fsecret.txt/config.json',
    '/runs/done/%252e%252e/%252e%252e/secret.txt',
    '/runs/done/charts/..%2f..%2f..%2fsecret.png',
    '/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/runs/done/model/weights.bin',
  ];
  for (const path of attempts) {
    const res = await get(path);
    assert.notEqual(res.status, 200, path);
    assert.ok(!res.body.includes(SECRET), path);
  }
  assert.equal(runFilePath('%2e%2e/config.json'), undefined);
  assert.equal(runFilePath('model%2Fmodel.json'), 'model/model.json');
  assert.equal(runFilePath('%E0%A4%A'), undefined, 'malformed escapes');
});

test('the page is served from its folder; anything else is a 404', async () => {
  const res = await get('/');
  assert.equal(res.status, 200);
  assert.match(res.body, /<title>page<\/title>/);
  assert.equal((await get('/nothing-here.js')).status, 404);
  assert.equal((await get('/runs-secret.json')).status, 404);
});

test('metrics.jsonl parsing leaves a half-written last line for later', () => {
  assert.deepEqual(parseMetrics(point(1) + '{"iter').map((p) => p.iteration), [1]);
  assert.deepEqual(parseMetrics(''), []);
  assert.throws(() => parseMetrics('{oops}\n'), /line 1/);
});

test('server-sent events: points as they are appended (a cut line once complete), then the finished state', { timeout: 120_000 }, async () => {
  const { port } = new URL(server.url);
  const dir = join(root, 'runs', 'running');
  const events: { type: string; data: any }[] = [];
  const stream = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/runs/running/events' }, resolve).on('error', reject).end();
  });
  assert.equal(stream.headers['content-type'], 'text/event-stream');
  let buffer = '';
  // Woken on every chunk and when the stream closes; waitFor checks its condition then.
  let wake = () => {};
  let closed = false;
  stream.on('close', () => {
    closed = true;
    wake();
  });
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type && data) events.push({ type, data: JSON.parse(data) });
    }
    wake();
  });
  const waitFor = async (what: () => boolean, label: string) => {
    while (!what()) {
      assert.ok(!closed, `the event stream closed before ${label}`);
      await new Promise<void>((r) => (wake = r));
    }
  };
  const iterations = () => events.filter((e) => e.type === 'metrics').flatMap((e) => e.data.map((p: any) => p.iteration));
  await waitFor(() => iterations().length === 1, 'the complete line');
  await appendFile(join(dir, 'metrics.jsonl'), 'edSeconds": 0.1}\n' + point(2));
  await waitFor(() => iterations().length === 3, 'the completed line and the next');
  assert.deepEqual(iterations(), [0, 1, 2]);
  await writeFile(join(dir, 'summary.json'), JSON.stringify({ eval: {} }));
  await waitFor(() => events.some((e) => e.type === 'state' && e.data.state === 'finished'), 'the finished state');
  assert.equal(events.find((e) => e.type === 'state')!.data.state, 'running');
  stream.destroy();
});
