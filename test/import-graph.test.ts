/**
 * The layers of src/ hold: the import graph, read from the TypeScript sources with the compiler's
 * own parser, has no edge that a rule below forbids.
 *
 * - LAYER_RULES: a module in one of the `from` folders imports nothing in the `forbidden` folders
 *   (type-only imports count too: the layer must not even name those modules' types).
 * - BROWSER_ENTRIES: nothing reachable from a browser-safe entry point, following relative imports
 *   that stay at run time (type-only imports vanish and are not followed), imports a Node
 *   built-in module.
 *
 * The edges are those of `import ... from`, `import '...'`, `export ... from`, `import x =
 * require(...)` and `import('...')` with a literal specifier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root: this file runs as dist/test/import-graph.test.js. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface LayerRule {
  rule: string;
  /** Folders (repository paths ending in '/') whose modules the rule constrains. */
  from: string[];
  /** Folders those modules must not import from. */
  forbidden: string[];
  why: string;
}

const LIBRARY = ['src/algorithms/', 'src/kernels/', 'src/nn/', 'src/eval/', 'src/tasks/', 'src/core/'];
const NODE_AND_APP = ['src/parallel/', 'src/distributed/', 'src/io/', 'src/cli/', 'src/serve/'];

const LAYER_RULES: LayerRule[] = [
  { rule: 'a', from: LIBRARY, forbidden: NODE_AND_APP, why: 'the library layers do not depend on the worker pool, the broker, files, the command line or the server' },
  { rule: 'b', from: ['src/core/'], forbidden: ['src/kernels/'], why: 'core sits below the kernels' },
];

interface EntryRule {
  rule: string;
  entry: string;
  why: string;
}

const BROWSER_ENTRIES: EntryRule[] = [
  { rule: 'c', entry: 'src/index.ts', why: 'the package root runs in the browser' },
  { rule: 'd', entry: 'src/demo/index.ts', why: 'the demo entry is the pages\' model logic, which runs in the browser' },
];

/** One import of a module: `to` is a repository path for a relative import, else the specifier. */
interface Edge {
  to: string;
  specifier: string;
  typeOnly: boolean;
}

/** Each module (repository path, e.g. 'src/core/tf.ts') with the edges it imports. */
type Graph = Map<string, Edge[]>;

function isNodeBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return builtinModules.includes(specifier) || builtinModules.includes(specifier.split('/')[0]);
}

/** A relative specifier as the source file it names ('./x.js' is x.ts; a folder is its index.ts). */
function resolveRelative(fromFile: string, specifier: string): string {
  const target = join(dirname(fromFile), specifier);
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, join(target, 'index.ts')];
  const found = candidates.find((c) => statSync(join(REPO, c), { throwIfNoEntry: false })?.isFile());
  return (found ?? target).split(sep).join('/');
}

/** The imports of one source text. */
function importsOf(fileName: string, text: string): { specifier: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: { specifier: string; typeOnly: boolean }[] = [];
  const literal = (node: ts.Node | undefined) => (node && ts.isStringLiteralLike(node) ? node.text : undefined);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      // `import type {..}`, or `import { type A, type B }` with every named import type-only.
      const named = clause?.namedBindings;
      const allTypes = clause !== undefined && !clause.name && named !== undefined && ts.isNamedImports(named)
        && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      found.push({ specifier: literal(node.moduleSpecifier)!, typeOnly: (clause?.isTypeOnly ?? false) || allTypes });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const named = node.exportClause;
      const allTypes = named !== undefined && ts.isNamedExports(named) && named.elements.length > 0
        && named.elements.every((e) => e.isTypeOnly);
      found.push({ specifier: literal(node.moduleSpecifier)!, typeOnly: node.isTypeOnly || allTypes });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const specifier = literal(node.moduleReference.expression);
      if (specifier !== undefined) found.push({ specifier, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const specifier = literal(node.arguments[0]);
      if (specifier !== undefined) found.push({ specifier, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((d) => {
    const path = `${dir}/${d.name}`;
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The import graph of the TypeScript sources under `dir` (a repository path). */
function readGraph(dir: string): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(dir)) {
    const edges = importsOf(file, readFileSync(join(REPO, file), 'utf8')).map(({ specifier, typeOnly }) => ({
      specifier,
      typeOnly,
      to: specifier.startsWith('.') ? resolveRelative(file, specifier) : specifier,
    }));
    graph.set(file, edges);
  }
  return graph;
}

const under = (path: string, folders: string[]) => folders.some((f) => path.startsWith(f));

/** Every edge that a layer rule forbids, one line each. */
function layerViolations(graph: Graph, rules: LayerRule[]): string[] {
  const out: string[] = [];
  for (const { rule, from, forbidden } of rules) {
    for (const [file, edges] of graph) {
      if (!under(file, from)) continue;
      for (const e of edges) {
        if (under(e.to, forbidden)) out.push(`(${rule}) ${file} -> ${e.to}${e.typeOnly ? ' (type-only)' : ''}`);
      }
    }
  }
  return out;
}

/** Every Node built-in imported by a module reachable at run time from an entry, with the path to it. */
function builtinViolations(graph: Graph, rules: EntryRule[]): string[] {
  const out: string[] = [];
  for (const { rule, entry } of rules) {
    if (!graph.has(entry)) {
      out.push(`(${rule}) ${entry} is not in the graph`);
      continue;
    }
    // Breadth first, so that each module's recorded parent gives a shortest chain from the entry.
    const parent = new Map<string, string | null>([[entry, null]]);
    const queue = [entry];
    while (queue.length > 0) {
      const file = queue.shift()!;
      for (const e of graph.get(file) ?? []) {
        if (e.typeOnly) continue;
        if (isNodeBuiltin(e.specifier)) {
          const chain: string[] = [];
          for (let m: string | null | undefined = file; m; m = parent.get(m)) chain.unshift(m);
          out.push(`(${rule}) ${file} imports '${e.specifier}' (reached by ${chain.join(' -> ')})`);
        } else if (graph.has(e.to) && !parent.has(e.to)) {
          parent.set(e.to, file);
          queue.push(e.to);
        }
      }
    }
  }
  return out;
}

/** The violations under the rules they break, each rule with its reason. */
function report(violations: string[], rules: (LayerRule | EntryRule)[]): string {
  const legend = rules.map((r) => `(${r.rule}) ${'entry' in r ? `nothing reachable from ${r.entry} imports a Node built-in` : `modules in ${r.from.join(' ')} import nothing from ${r.forbidden.join(' ')}`}: ${r.why}`);
  return `${violations.length} forbidden import(s):\n  ${violations.join('\n  ')}\nrules:\n  ${legend.join('\n  ')}`;
}

test('the checker reports forbidden edges in a synthetic graph (and only those)', () => {
  const edge = (to: string, typeOnly = false): Edge => ({ to, specifier: to.startsWith('src/') ? `./${to}` : to, typeOnly });
  const graph: Graph = new Map([
    ['src/index.ts', [edge('src/nn/a.ts'), edge('src/nn/types.ts', true)]],
    ['src/nn/a.ts', [edge('src/nn/b.ts'), edge('src/io/files.ts', true)]],
    ['src/nn/b.ts', [edge('node:fs')]],
    ['src/nn/types.ts', [edge('worker_threads')]],
    ['src/core/c.ts', [edge('src/kernels/k.ts', true), edge('src/core/d.ts')]],
    ['src/core/d.ts', [edge('fs/promises')]],
    ['src/io/files.ts', [edge('fs')]],
  ]);
  assert.deepEqual(layerViolations(graph, LAYER_RULES), [
    '(a) src/nn/a.ts -> src/io/files.ts (type-only)',
    '(b) src/core/c.ts -> src/kernels/k.ts (type-only)',
  ]);
  // types.ts is only reached by a type-only import, core/d.ts not at all: neither counts.
  assert.deepEqual(builtinViolations(graph, BROWSER_ENTRIES), [
    "(c) src/nn/b.ts imports 'node:fs' (reached by src/index.ts -> src/nn/a.ts -> src/nn/b.ts)",
    '(d) src/demo/index.ts is not in the graph',
  ]);
  assert.deepEqual(
    importsOf('x.ts', [
      "import type { A } from './a.js';",
      "import { type B } from './b.js';",
      "import { type C, d } from './c.js';",
      "import './side-effect.js';",
      "export * from './e.js';",
      "export type { F } from './f.js';",
      "const g = await import('node:worker_threads');",
      "type H = typeof import('./h.js');",
    ].join('\n')),
    [
      { specifier: './a.js', typeOnly: true },
      { specifier: './b.js', typeOnly: true },
      { specifier: './c.js', typeOnly: false },
      { specifier: './side-effect.js', typeOnly: false },
      { specifier: './e.js', typeOnly: false },
      { specifier: './f.js', typeOnly: true },
      { specifier: 'node:worker_threads', typeOnly: false },
    ],
  );
});

const graph = readGraph('src');

test('the graph of src/ is read whole', () => {
  assert.ok(graph.size > 100, `only ${graph.size} modules read under ${REPO}/src`);
  const unresolved = [...graph].flatMap(([file, edges]) =>
    edges.filter((e) => e.specifier.startsWith('.') && !existsSync(join(REPO, e.to))).map((e) => `${file} -> ${e.specifier}`));
  assert.deepEqual(unresolved, [], 'relative imports that name no file');
  for (const { entry } of BROWSER_ENTRIES) assert.ok(graph.has(entry), `${entry} is missing`);
});

test('the library layers import nothing from parallel/, distributed/, io/, cli/ or serve/, and core/ nothing from kernels/', () => {
  const violations = layerViolations(graph, LAYER_RULES);
  assert.equal(violations.length, 0, report(violations, LAYER_RULES));
});

test('nothing reachable from the package root or the demo entry imports a Node built-in', () => {
  const violations = builtinViolations(graph, BROWSER_ENTRIES);
  assert.equal(violations.length, 0, report(violations, BROWSER_ENTRIES));
});
