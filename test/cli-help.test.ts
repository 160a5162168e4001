/**
 * `reptile --help` and `reptile train --help`: every flag with its default (DESIGN.md,
 * "Contracts"), on stdout, exit code 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAGS } from '../src/cli/train-options.js';
import { runCli } from './support/cli.js';
import { DOCUMENTED_DEFAULTS } from './support/documented-defaults.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The help's option entries, keyed by long flag, each with its wrapped lines joined and
 * whitespace collapsed.
 */
function optionEntries(help: string): Map<string, string> {
  const entries = new Map<string, string>();
  const section = help.split(/^Options:\s*$/m)[1] ?? '';
  let current: string[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const text = current.join(' ').replace(/\s+/g, ' ').trim();
    const long = /--[a-z0-9-]+/.exec(text);
    if (long) entries.set(long[0], text);
    current = [];
  };
  for (const line of section.split('\n')) {
    if (/^\S/.test(line)) break; // the next section
    if (/^ {2}-/.test(line)) flush();
    if (line.trim() !== '') current.push(line);
  }
  flush();
  return entries;
}

/** DESIGN.md's flags that the sine benchmark takes (classification-only and later flags aside). */
const DESIGN_SINE_FLAGS = [
  '--shots', '--train-shots', '--inner-batch', '--inner-iters', '--learning-rate', '--meta-step', '--meta-step-final',
  '--meta-batch', '--meta-iters', '--eval-batch', '--eval-iters', '--eval-samples', '--eval-interval', '--sgd', '--seed',
  '--algorithm', '--out', '--backend',
];

/** How --help shows `value` as `benchmark`'s default: alone when every benchmark has it, else per benchmark. */
function showsDefault(entry: string, benchmark: string, value: unknown): boolean {
  const json = JSON.stringify(value);
  return entry.includes(`default: ${json})`) || new RegExp(`[ (]${benchmark}: ${json.replace(/[[\]().*+?^$|\\]/g, '\\$&')}[,)]`).test(entry);
}

test('reptile train --help lists every flag with its default', async () => {
  for (const args of [['train', '--help'], ['train', 'sine', '--help'], ['help', 'train']]) {
    const { code, stdout, stderr } = await runCli(args);
    assert.equal(code, 0, `reptile ${args.join(' ')}: ${stderr}`);
    assert.equal(stderr, '');
    const entries = optionEntries(stdout);
    for (const spec of FLAGS) {
      const long = spec.flags.split(' ')[0];
      const entry = entries.get(long);
      assert.ok(entry, `reptile ${args.join(' ')} does not list ${long}`);
      assert.match(entry, /\(default[ :]/, `${long} shows its defaults`);
      for (const choice of spec.choices ?? []) assert.ok(entry.includes(`"${choice}"`), `${long} should list the choice ${choice}: ${entry}`);
    }
    // The values: the documentation's (README.md, docs/text.md, the paper's Omniglot setting), not the code's table.
    for (const [benchmark, documented] of Object.entries(DOCUMENTED_DEFAULTS)) {
      for (const { flag, value } of documented) {
        const entry = entries.get(flag);
        assert.ok(entry, `${flag} missing from the help`);
        assert.ok(showsDefault(entry, benchmark, value), `${flag} should show ${benchmark}'s documented default ${JSON.stringify(value)}: ${entry}`);
      }
    }
    for (const long of [...DESIGN_SINE_FLAGS, '--config', '--force']) assert.ok(entries.has(long), `${long} missing from the help`);
    assert.match(entries.get('--out')!, /default/);
    assert.match(stdout, /\[benchmark\]/);
    assert.match(stdout, /\bsine\b/);
  }
});

test('showsDefault reads both forms of the help and tells values apart', () => {
  assert.ok(showsDefault('--x <n> what (default: 0)', 'sine', 0));
  assert.ok(showsDefault('--x <n> what (default sine: 0.1, omniglot: 1, images: 1)', 'omniglot', 1));
  assert.ok(!showsDefault('--x <n> what (default sine: 0.1, omniglot: 1, images: 1)', 'sine', 0.01));
  assert.ok(!showsDefault('--x <n> what (default sine: 10, omniglot: 1)', 'sine', 1));
  assert.ok(showsDefault('--x <s> what (default sine: [64,64], omniglot: [64])', 'omniglot', [64]));
  assert.ok(!showsDefault('--x <s> what (default sine: [64,64], omniglot: [64])', 'sine', [64]));
});

test('reptile --help lists the train command, exit code 0', async () => {
  const { code, stdout, stderr } = await runCli(['--help']);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
  assert.match(stdout, /^Usage: reptile/m);
  assert.match(stdout, /^\s+train\b/m);
});

test('reptile --version prints the package version', async () => {
  const { code, stdout } = await runCli(['--version']);
  assert.equal(code, 0);
  const pkg = JSON.parse(await readFile(resolve(HERE, '../../package.json'), 'utf8'));
  assert.equal(stdout.trim(), pkg.version);
});
