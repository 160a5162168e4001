/**
 * `reptile data omniglot` end to end: the real CLI (dist/src/cli/main.js) as a child process,
 * its exit codes (0; 1 for a failed download; 2 for a usage error) and output, against an HTTP
 * server on 127.0.0.1 that serves generated archives with Omniglot's layout (no real data needed).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OMNIGLOT_ARCHIVES, sha256Hex } from '../src/io/download.js';
import { runCli as runCliProcess, type CliResult } from './support/cli.js';
import { syntheticOmniglotZip } from './support/omniglot-zip.js';

const FILES = OMNIGLOT_ARCHIVES.map((a) => a.file);

/**
 * `reptile args...` with its own environment: the parent's REPTILE_OMNIGLOT_URL_BASE is dropped
 * unless `env` sets it, and REPTILE_DEBUG is cleared (no stack traces on stderr).
 */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCliProcess(args, { env: { REPTILE_OMNIGLOT_URL_BASE: undefined, REPTILE_DEBUG: undefined, ...env } });
}

/** As `reptile data` prints sizes in its progress lines ("8.2"), with the dot escaped for a RegExp. */
function mbPattern(bytes: number): string {
  return (bytes / 1e6).toFixed(1).replace('.', '\\.');
}

let dir: string;
let server: Server;
let base = '';
let closedBase = '';
const requests: string[] = [];
const files = new Map<string, Buffer>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reptile-download-cli-'));
  for (const a of OMNIGLOT_ARCHIVES) files.set(a.file, Buffer.from(syntheticOmniglotZip(a)));
  // Range-capable static server: enough for a full download.
  server = createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.range ?? ''}`.trim());
    const body = files.get((req.url ?? '/').slice(1));
    if (!body) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= body.length && m) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    res.writeHead(m ? 206 : 200, {
      'content-length': body.length - start,
      ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    res.end(body.subarray(start));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  closedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
  await new Promise<void>((ok) => closed.close(() => ok()));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
  await rm(dir, { recursive: true, force: true });
});

describe('reptile data omniglot (CLI)', () => {
  test('downloads from $REPTILE_OMNIGLOT_URL_BASE, verifies, then skips on a rerun; --sha256 checks SHA256SUMS', async () => {
    const out = join(dir, 'omniglot');
    const [background, evaluation] = FILES.map((f) => files.get(f)!);
    const first = await runCli(['data', 'omniglot', '--out', out], { REPTILE_OMNIGLOT_URL_BASE: base });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^images_background\\.zip: downloaded ${mbPattern(background.length)} MB; 30 alphabets, 964 characters, 19280 drawings$`, 'm'));
    assert.match(first.stdout, new RegExp(`^images_evaluation\\.zip: downloaded ${mbPattern(evaluation.length)} MB; 20 alphabets, 659 characters, 13180 drawings$`, 'm'));
    assert.match(first.stdout, new RegExp(`Omniglot is complete in ${out}/ .*1623 characters, 32460 drawings\\); pass --data ${out}\\n$`));
    // Not a terminal: plain progress lines, no bar.
    assert.match(first.stderr, new RegExp(`^images_background\\.zip: downloading from http://127\\.0\\.0\\.1:\\d+/images_background\\.zip \\(${mbPattern(background.length)} MB\\)$`, 'm'));
    assert.ok(!first.stderr.includes('\r'));
    for (const f of FILES) assert.ok((await readFile(join(out, f))).equals(files.get(f)!), f);
    assert.deepEqual((await readdir(out)).sort(), FILES);

    requests.length = 0;
    await writeFile(join(out, 'SHA256SUMS'), `${sha256Hex(background)}  images_background.zip\n${sha256Hex(evaluation)}  images_evaluation.zip\n`);
    // The flag beats the environment (which points at a closed port here).
    const second = await runCli(['data', 'omniglot', '--out', out, '--sha256', '--url-base', base], { REPTILE_OMNIGLOT_URL_BASE: closedBase });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(requests, []);
    assert.match(second.stdout, /^images_background\.zip: already complete, skipped \(30 alphabets, 964 characters, 19280 drawings\)$/m);
    assert.match(second.stdout, new RegExp(`^${sha256Hex(background)} {2}images_background\\.zip \\(matches SHA256SUMS\\)$`, 'm'));
    assert.match(second.stdout, new RegExp(`^${sha256Hex(evaluation)} {2}images_evaluation\\.zip \\(matches SHA256SUMS\\)$`, 'm'));
  });

  test('an unreachable server: one line on stderr, exit code 1', async () => {
    const out = join(dir, 'unreachable');
    const r = await runCli(['data', 'omniglot', '--out', out, '--url-base', closedBase]);
    assert.equal(r.code, 1);
    const port = new URL(closedBase).port;
    assert.equal(
      r.stderr,
      `error: cannot reach 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}; download images_background.zip and images_evaluation.zip by hand from ${closedBase} into ${out} and pass --data ${out}\n`,
    );
  });

  test('a 404: HTTP status and URL, exit code 1', async () => {
    const r = await runCli(['data', 'omniglot', '--out', join(dir, 'missing'), '--url-base', `${base}nowhere`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: HTTP 404 Not Found from ${base}nowhere/images_background\\.zip; check --url-base \\(or REPTILE_OMNIGLOT_URL_BASE\\)[^\\n]*\\n$`));
  });

  const usage: { name: string; args: string[]; line: RegExp }[] = [
    { name: 'no --out', args: ['data', 'omniglot'], line: /^error: required option '--out <dir>' not specified; e\.g\. reptile data omniglot --out data\/omniglot$/ },
    { name: 'no dataset', args: ['data', '--out', 'x'], line: /^error: missing required argument 'dataset'; allowed: omniglot$/ },
    { name: 'an unknown dataset', args: ['data', 'mnist', '--out', 'x'], line: /^error: unknown dataset 'mnist'; allowed: omniglot$/ },
    { name: 'an unknown flag', args: ['data', 'omniglot', '--out', 'x', '--sha512'], line: /^error: unknown option '--sha512'; run 'reptile data --help' for the allowed flags$/ },
    { name: 'a --url-base that is not http(s)', args: ['data', 'omniglot', '--out', 'x', '--url-base', 'ftp://127.0.0.1/'], line: /^error: --url-base ftp:\/\/127\.0\.0\.1\/: expected an http:\/\/ or https:\/\/ URL/ },
  ];
  for (const c of usage) {
    test(`usage error, exit code 2: ${c.name}`, async () => {
      const r = await runCli(c.args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), c.line);
      assert.equal(r.stdout, '');
    });
  }

  test('a bad $REPTILE_OMNIGLOT_URL_BASE is a usage error (child process, own environment)', async () => {
    const r = await runCli(['data', 'omniglot', '--out', join(dir, 'bad-env')], { REPTILE_OMNIGLOT_URL_BASE: 'nope' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: REPTILE_OMNIGLOT_URL_BASE nope: not a URL; expected an http\(s\) URL such as https:\/\/raw\.githubusercontent\.com\/brendenlake\/omniglot\/master\/python\/\n$/);
  });

  test('--out naming a file is a usage error', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x\n');
    const r = await runCli(['data', 'omniglot', '--out', file, '--url-base', closedBase]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `error: --out ${file}: exists and is not a directory\n`);
  });

  test('reptile data --help lists the flags and the environment variable', async () => {
    const r = await runCli(['data', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--out <dir>', '--url-base <url>', '--sha256', 'REPTILE_OMNIGLOT_URL_BASE', 'omniglot']) assert.ok(r.stdout.includes(flag), flag);
  });
});
