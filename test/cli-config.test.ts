/**
 * The shape of `reptile train`'s configuration (src/cli/config.ts, train-options.ts,
 * text-options.ts): the types in one module that imports no other CLI module, no import cycle
 * among the CLI's modules, flag tables complete as declared, help in one line per flag and
 * docs/cli.md explaining every flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS } from '../src/cli/config.js';
import { FLAGS, trainOptions } from '../src/cli/train-options.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'src/cli');

/** Each module under src/cli (relative path) with the CLI modules it imports or re-exports from, types included. */
function cliImports(): Map<string, string[]> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(relative(CLI, path));
    }
  };
  walk(CLI);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = readFileSync(join(CLI, file), 'utf8');
    const specifiers = [...source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm), ...source.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]);
    const targets = specifiers.map((s) => relative(CLI, resolve(join(CLI, dirname(file)), s.replace(/\.js$/, '.ts'))));
    graph.set(file, targets.filter((t) => files.includes(t)));
  }
  return graph;
}

test('config.ts imports no other CLI module', () => {
  assert.deepEqual(cliImports().get('config.ts'), []);
});

test('no import cycle among the CLI modules (type imports included)', () => {
  const graph = cliImports();
  const done = new Set<string>();
  const visit = (file: string, path: string[]) => {
    const at = path.indexOf(file);
    assert.equal(at, -1, `import cycle: ${[...path.slice(at), file].join(' -> ')}`);
    if (done.has(file)) return;
    for (const next of graph.get(file)!) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  assert.ok(graph.has('train-options.ts') && graph.get('train-options.ts')!.includes('config.ts'));
});

test("every flag's defaults name every benchmark, and every key is one flag's", () => {
  for (const spec of FLAGS) assert.deepEqual(Object.keys(spec.defaults).sort(), [...BENCHMARKS].sort(), spec.flags);
  assert.equal(new Set(FLAGS.map((f) => f.key)).size, FLAGS.length);
});

test('each flag of reptile train has a short help text, and docs/cli.md explains it', () => {
  const docs = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
  const extra = trainOptions().slice(FLAGS.length);
  for (const [flags, description] of [...FLAGS.map((f) => [f.flags, f.description]), ...extra.map((o) => [o.flags, o.description])]) {
    assert.ok(description.length <= 160, `${flags}: ${description.length} characters of help; explain it in docs/cli.md instead`);
    const long = flags.split(' ')[0];
    assert.ok(docs.includes(`\`${long}`), `docs/cli.md does not explain ${long}`);
  }
});
