/**
 * `reptile data omniglot` end to end, as a child process, against an HTTP server on 127.0.0.1.
 *
 * Until src/cli/main.ts registers the command, this file is also its own entry point: run with
 * `--reptile-data-cli ARGS...` it builds a `reptile` program with registerDataCommand and handles
 * errors as main.ts does (usage errors exit 2, other failures `error: ...` and exit 1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerDataCommand } from '../src/cli/data-command.js';
import { UsageError } from '../src/cli/errors.js';
import { runCli as runCliProcess, type CliResult } from './support/cli.js';

const SELF = fileURLToPath(import.meta.url);
const MARKER = '--reptile-data-cli';

/** `reptile data ...` as main.ts runs it: returns the exit code; stdout/stderr go to `out`/`err`. */
async function runReptile(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const program = new Command('reptile').showSuggestionAfterError(false).exitOverride().configureOutput({ writeOut: out, writeErr: err });
  registerDataCommand(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
    err(`error: ${(error as Error).message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[2] === MARKER) {
  process.exitCode = await runReptile(
    process.argv.slice(3),
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  );
} else {
  defineTests();
}

function defineTests(): void {
  const REPO = resolve(dirname(SELF), '../..');
  const DATA = resolve(REPO, '../shared/data/omniglot');
  const FILES = ['images_background.zip', 'images_evaluation.zip'];
  const present = FILES.every((f) => existsSync(join(DATA, f)));

  /** In this process (fast): for errors raised before any download starts, and --help. */
  async function runHere(args: string[]): Promise<CliResult> {
    let stdout = '';
    let stderr = '';
    const code = await runReptile(args, (s) => (stdout += s), (s) => (stderr += s));
    return { code, signal: null, stdout, stderr };
  }

  /**
   * As a child process (this file as the entry point), with its own environment: the parent's
   * REPTILE_OMNIGLOT_URL_BASE is dropped unless `env` sets it.
   */
  function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCliProcess([MARKER, ...args], { script: SELF, env: { REPTILE_OMNIGLOT_URL_BASE: undefined, ...env } });
  }

  let dir: string;
  let server: Server;
  let base = '';
  let closedBase = '';
  const requests: string[] = [];
  const files = new Map<string, Buffer>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reptile-download-cli-'));
    for (const f of present ? FILES : []) files.set(f, await readFile(join(DATA, f)));
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
    test('downloads from $REPTILE_OMNIGLOT_URL_BASE, verifies, then skips on a rerun; --sha256 checks SHA256SUMS', { skip: present ? false : `Omniglot archives not found in ${DATA}` }, async () => {
      const out = join(dir, 'omniglot');
      const first = await runCli(['data', 'omniglot', '--out', out], { REPTILE_OMNIGLOT_URL_BASE: base });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^images_background\.zip: downloaded 8\.\d MB; 30 alphabets, 964 characters, 19280 drawings$/m);
      assert.match(first.stdout, /^images_evaluation\.zip: downloaded 5\.\d MB; 20 alphabets, 659 characters, 13180 drawings$/m);
      assert.match(first.stdout, new RegExp(`Omniglot is complete in ${out}/ .*1623 characters, 32460 drawings\\); pass --data ${out}\\n$`));
      // Not a terminal: plain progress lines, no bar.
      assert.match(first.stderr, /^images_background\.zip: downloading from http:\/\/127\.0\.0\.1:\d+\/images_background\.zip \(8\.\d MB\)$/m);
      assert.ok(!first.stderr.includes('\r'));
      for (const f of FILES) assert.ok((await readFile(join(out, f))).equals(files.get(f)!), f);
      assert.deepEqual((await readdir(out)).sort(), FILES);

      requests.length = 0;
      await writeFile(join(out, 'SHA256SUMS'), await readFile(join(DATA, 'SHA256SUMS')));
      // The flag beats the environment (which points at a closed port here).
      const second = await runCli(['data', 'omniglot', '--out', out, '--sha256', '--url-base', base], { REPTILE_OMNIGLOT_URL_BASE: closedBase });
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(requests, []);
      assert.match(second.stdout, /^images_background\.zip: already complete, skipped \(30 alphabets, 964 characters, 19280 drawings\)$/m);
      assert.match(second.stdout, /^37aafe0dae96bcd7226e14b3656693eaeb70be97364d677dc23a8192460cad13 {2}images_background\.zip \(matches SHA256SUMS\)$/m);
      assert.match(second.stdout, /^[0-9a-f]{64} {2}images_evaluation\.zip \(matches SHA256SUMS\)$/m);
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
      const r = await runHere(['data', 'omniglot', '--out', join(dir, 'missing'), '--url-base', `${base}nowhere`]);
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
        const r = await runHere(c.args);
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
      const r = await runHere(['data', 'omniglot', '--out', file, '--url-base', closedBase]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `error: --out ${file}: exists and is not a directory\n`);
    });

    test('reptile data --help lists the flags and the environment variable', async () => {
      const r = await runHere(['data', '--help']);
      assert.equal(r.code, 0);
      for (const flag of ['--out <dir>', '--url-base <url>', '--sha256', 'REPTILE_OMNIGLOT_URL_BASE', 'omniglot']) assert.ok(r.stdout.includes(flag), flag);
    });
  });
}
