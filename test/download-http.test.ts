/**
 * Resumable downloads (src/io/download.ts) against an HTTP server on 127.0.0.1 that serves
 * generated archives with the layout of the Omniglot archives (every alphabet, character and
 * drawing, the drawings 1x1 PNGs; test/support/omniglot-zip.ts): full download, resume with Range, a server that ignores Range, 416,
 * 404, a response cut short, a stalled response, an unreachable port, a served archive with a
 * bad layout, checksums. Nothing here contacts any other host.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumError,
  DownloadError,
  downloadFile,
  downloadOmniglot,
  LayoutError,
  OMNIGLOT_ARCHIVES,
  sha256Hex,
} from '../src/io/download.js';
import { layoutEntries, syntheticOmniglotZip, without, zip } from './support/omniglot-zip.js';

const FILES = OMNIGLOT_ARCHIVES.map((a) => a.file);

type Mode = 'normal' | 'ignore-range' | 'truncate' | 'stall';

interface Seen {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  acceptEncoding: string | undefined;
}

/** Serves `files` (name -> bytes) under `/`, with Range support unless told otherwise. */
class TestServer {
  mode: Mode = 'normal';
  /** 'truncate': bytes of the body sent before the connection is cut. 'stall': bytes before it stops sending. */
  cutAfter = 0;
  seen: Seen[] = [];
  files = new Map<string, Uint8Array>();
  private server: Server = createServer((req, res) => this.handle(req, res));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  static etag(body: Uint8Array): string {
    return `"${sha256Hex(body).slice(0, 16)}"`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    this.seen.push({ path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, acceptEncoding: req.headers['accept-encoding'] });
    const body = this.files.get(path.slice(1));
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let start = 0;
    let status = 200;
    const etag = TestServer.etag(body);
    const headers: Record<string, string | number> = { 'content-type': 'application/zip', 'accept-ranges': 'bytes', etag };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    // If-Range: the range applies only if the client's copy is of the current version.
    const current = req.headers['if-range'] === undefined || req.headers['if-range'] === etag;
    if (m && current && this.mode !== 'ignore-range') {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    headers['content-length'] = body.length - start;
    res.writeHead(status, headers);
    const rest = body.subarray(start);
    if (this.mode === 'truncate') {
      res.write(rest.subarray(0, this.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (this.mode === 'stall') {
      res.write(rest.subarray(0, this.cutAfter)); // and nothing more
    } else {
      res.end(rest);
    }
  }
}

const server = new TestServer();
const original = new Map<string, Buffer>();
let dir: string;
let out: string;
let n = 0;

before(async () => {
  for (const a of OMNIGLOT_ARCHIVES) {
    original.set(a.file, Buffer.from(syntheticOmniglotZip(a)));
    server.files.set(a.file, original.get(a.file)!);
  }
  await server.start();
  dir = await mkdtemp(join(tmpdir(), 'reptile-download-http-'));
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  server.mode = 'normal';
  server.seen = [];
  out = join(dir ?? tmpdir(), `out-${++n}`);
});

async function sameAsOriginal(file: string): Promise<void> {
  const got = await readFile(join(out, file));
  assert.equal(got.length, original.get(file)!.length, `${file}: size`);
  assert.ok(got.equals(original.get(file)!), `${file}: bytes differ`);
}

async function listing(): Promise<string[]> {
  return existsSync(out) ? (await readdir(out)).sort() : [];
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

const background = OMNIGLOT_ARCHIVES.filter((a) => a.split === 'images_background');

describe('reptile data omniglot: downloads', () => {
  test('a full download gives byte-identical, verified archives; a rerun downloads nothing', async () => {
    const lines: string[] = [];
    const results = await downloadOmniglot({ outDir: out, urlBase: server.url, log: (l) => lines.push(l) });
    for (const f of FILES) await sameAsOriginal(f);
    assert.deepEqual(await listing(), FILES);
    assert.deepEqual(
      results.map((r) => [r.file, r.action, r.layout.characters, r.layout.drawings]),
      [
        ['images_background.zip', 'downloaded', 964, 19280],
        ['images_evaluation.zip', 'downloaded', 659, 13180],
      ],
    );
    assert.deepEqual(server.seen.map((s) => [s.path, s.range]), [['/images_background.zip', undefined], ['/images_evaluation.zip', undefined]]);
    assert.equal(server.seen[0].acceptEncoding, 'identity');

    server.seen = [];
    lines.length = 0;
    const again = await downloadOmniglot({ outDir: out, urlBase: server.url, log: (l) => lines.push(l) });
    assert.deepEqual(again.map((r) => r.action), ['present', 'present']);
    assert.equal(server.seen.length, 0);
    assert.match(lines[0], /^images_background\.zip: already complete, skipped \(30 alphabets, 964 characters, 19280 drawings\)$/);
  });

  test('a partial .part is resumed with a Range request', async () => {
    const file = 'images_background.zip';
    const keep = 1_000_000;
    await mkdir(out, { recursive: true });
    await writeFile(join(out, `${file}.part`), original.get(file)!.subarray(0, keep));
    const lines: string[] = [];
    const [result] = await downloadOmniglot({ outDir: out, urlBase: server.url, archives: background, log: (l) => lines.push(l) });
    assert.deepEqual(server.seen.map((s) => [s.range, s.ifRange]), [[`bytes=${keep}-`, undefined]]);
    assert.equal(result.download?.resumedFrom, keep);
    assert.equal(result.download?.transferred, original.get(file)!.length - keep);
    assert.equal(result.download?.restarted, false);
    await sameAsOriginal(file);
    assert.deepEqual(await listing(), [file]);
    assert.ok(lines.some((l) => l.includes(`resuming at 1.0 MB of ${(original.get(file)!.length / 1e6).toFixed(1)} MB`)), lines.join('\n'));
  });

  test('a server that ignores Range (200) still yields a correct file: the .part is restarted', async () => {
    const file = 'images_background.zip';
    server.mode = 'ignore-range';
    await mkdir(out, { recursive: true });
    // Garbage in the .part: had it been appended to, the file would be wrong.
    await writeFile(join(out, `${file}.part`), new Uint8Array(700_000).fill(0xaa));
    const lines: string[] = [];
    const [result] = await downloadOmniglot({ outDir: out, urlBase: server.url, archives: background, log: (l) => lines.push(l) });
    assert.deepEqual(server.seen.map((s) => s.range), ['bytes=700000-']);
    assert.equal(result.download?.restarted, true);
    assert.equal(result.download?.resumedFrom, 0);
    await sameAsOriginal(file);
    assert.deepEqual(await listing(), [file]);
    assert.ok(lines.some((l) => l.includes('did not resume the partial download; starting over')), lines.join('\n'));
  });

  test('a .part that is already complete (416 to the Range request) is verified and kept', async () => {
    const file = 'images_evaluation.zip';
    await mkdir(out, { recursive: true });
    await writeFile(join(out, `${file}.part`), original.get(file)!);
    const result = await downloadFile(server.url + file, join(out, file));
    assert.deepEqual(server.seen.map((s) => s.range), [`bytes=${original.get(file)!.length}-`]);
    assert.equal(result.transferred, 0);
    await sameAsOriginal(file);
    assert.deepEqual(await listing(), [file]);
  });

  test('a .part of another version of the file (If-Range does not match) is downloaded afresh', async () => {
    const file = 'images_background.zip';
    const url = server.url + file;
    await mkdir(out, { recursive: true });
    await writeFile(join(out, `${file}.part`), new Uint8Array(500_000).fill(0x55));
    await writeFile(join(out, `${file}.part.json`), JSON.stringify({ url, etag: '"an-older-version"', total: original.get(file)!.length }));
    const result = await downloadFile(url, join(out, file));
    assert.deepEqual(server.seen.map((s) => [s.range, s.ifRange]), [['bytes=500000-', '"an-older-version"']]);
    assert.equal(result.restarted, true);
    await sameAsOriginal(file);
    assert.deepEqual(await listing(), [file]);
  });

  test('a 404 says HTTP 404 and the URL, in one line; nothing is left behind', async () => {
    const error = await downloadOmniglot({ outDir: out, urlBase: `${server.url}missing/` }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError);
    assert.equal(error.kind, 'http');
    assert.equal(error.status, 404);
    assert.match(error.message, new RegExp(`^HTTP 404 Not Found from ${server.url}missing/images_background\\.zip; check --url-base`));
    assert.ok(!error.message.includes('\n'));
    assert.deepEqual(await listing(), []);
  });

  test('a response cut short leaves no final file, and a .part that a rerun resumes', async () => {
    const file = 'images_background.zip';
    server.mode = 'truncate';
    server.cutAfter = 2_000_000;
    const error = await downloadOmniglot({ outDir: out, urlBase: server.url, archives: background }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError, String(error));
    assert.equal(error.kind, 'interrupted');
    assert.match(error.message, /^the download of http:\/\/127\.0\.0\.1:\d+\/images_background\.zip stopped after \d+ of \d+ bytes \(.+\); the partial file .+\.part is kept: run the command again to resume$/);
    assert.deepEqual(await listing(), [`${file}.part`, `${file}.part.json`]);
    const kept = (await stat(join(out, `${file}.part`))).size;
    assert.ok(kept > 0 && kept <= server.cutAfter, `kept ${kept} bytes`);
    assert.ok(original.get(file)!.subarray(0, kept).equals(await readFile(join(out, `${file}.part`))));

    server.mode = 'normal';
    server.seen = [];
    const [result] = await downloadOmniglot({ outDir: out, urlBase: server.url, archives: background });
    assert.deepEqual(server.seen.map((s) => [s.range, s.ifRange]), [[`bytes=${kept}-`, TestServer.etag(original.get(file)!)]]);
    assert.equal(result.download?.resumedFrom, kept);
    await sameAsOriginal(file);
    assert.deepEqual(await listing(), [file]);
  });

  test('a stalled response times out with a clear message; the .part is kept', async () => {
    const file = 'images_evaluation.zip';
    server.mode = 'stall';
    server.cutAfter = 100_000;
    const error = await downloadFile(server.url + file, join(out, file), { idleTimeoutMs: 300 }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError, String(error));
    assert.equal(error.kind, 'timeout');
    assert.match(error.message, /^no data from 127\.0\.0\.1:\d+ for 0\.3 s while downloading .+ \(100000 of \d+ bytes kept in .+\.part; run again to resume\)$/);
    assert.deepEqual(await listing(), [`${file}.part`, `${file}.part.json`]);
  });

  test('an unreachable server gives one line: cannot reach, why, and how to do it by hand', async () => {
    const port = await closedPort();
    const error = await downloadOmniglot({ outDir: out, urlBase: `http://127.0.0.1:${port}/` }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError);
    assert.equal(error.kind, 'network');
    assert.equal(
      error.message,
      `cannot reach 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}; download images_background.zip and images_evaluation.zip by hand ` +
        `from http://127.0.0.1:${port}/ into ${out} and pass --data ${out}`,
    );
    assert.deepEqual(await listing(), []);
  });

  test('a DNS failure (offline) is reported with the host name (fake fetch: no lookup is made)', async () => {
    const offline = (async () => {
      const cause = Object.assign(new Error('getaddrinfo ENOTFOUND raw.githubusercontent.com'), { code: 'ENOTFOUND', hostname: 'raw.githubusercontent.com' });
      throw new TypeError('fetch failed', { cause });
    }) as typeof fetch;
    const error = await downloadOmniglot({ outDir: out, fetch: offline }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError);
    assert.equal(
      error.message,
      'cannot reach raw.githubusercontent.com: getaddrinfo ENOTFOUND raw.githubusercontent.com; download images_background.zip and ' +
        `images_evaluation.zip by hand from https://raw.githubusercontent.com/brendenlake/omniglot/master/python/ into ${out} and pass --data ${out}`,
    );
  });

  test('a served archive that lacks characters is rejected: which archive, what is missing; no file is kept', async () => {
    // The background layout minus Latin/character05 and one drawing of Greek/character01.
    const entries = without(without(layoutEntries(background[0]), 'images_background/Latin/character05/'), 'images_background/Greek/character01/0001_20.png');
    server.files.set('broken/images_background.zip', zip(entries));
    try {
      const error = await downloadOmniglot({ outDir: out, urlBase: `${server.url}broken/`, archives: background }).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof LayoutError, String(error));
      assert.match(
        error.message,
        /^images_background\.zip is incomplete \(30 alphabets, 963 of 964 characters, 19259 of 19280 drawings\): missing character Latin\/character05; drawings per character: Greek\/character01 has 19 of 20 \(downloaded from http:.+; the download was deleted\)$/,
      );
      assert.deepEqual(await listing(), []);
    } finally {
      server.files.delete('broken/images_background.zip');
    }
  });

  test('--sha256: checksums are checked against SHA256SUMS in the output directory', async () => {
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'SHA256SUMS'), FILES.map((f) => `${sha256Hex(original.get(f)!)}  ${f}\n`).join(''));
    const results = await downloadOmniglot({ outDir: out, urlBase: server.url, sha256: true });
    assert.deepEqual(results.map((r) => r.checksum), ['match', 'match']);
    assert.equal(results[0].sha256, sha256Hex(original.get('images_background.zip')!));

    // A wrong checksum: the (valid) existing file is downloaded again, then rejected and deleted.
    const wrong = '0'.repeat(64);
    await writeFile(join(out, 'SHA256SUMS'), `${wrong}  images_background.zip\n`);
    server.seen = [];
    const lines: string[] = [];
    const error = await downloadOmniglot({ outDir: out, urlBase: server.url, sha256: true, log: (l) => lines.push(l) }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ChecksumError, String(error));
    assert.match(error.message, new RegExp(`^images_background\\.zip: SHA-256 [0-9a-f]{64} differs from ${wrong} in .+SHA256SUMS \\(downloaded from`));
    assert.match(lines[0], /differs from 0+ in .+; downloading it again$/);
    assert.equal(server.seen.length, 1);
    assert.deepEqual(await listing(), ['SHA256SUMS', 'images_evaluation.zip']);
  });
});
