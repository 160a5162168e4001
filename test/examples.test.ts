/**
 * The examples in examples/ run as a user would run them (the compiled file, in a child process)
 * and must exit 0 and print what they measured; each asserts by itself that learning happened.
 * README.md's "Use it as a library" shows the first example's code, which must stay the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OMNIGLOT_DATA, omniglotRequirement } from './support/require.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * One line per example: its source file, what its output must say, its arguments, and why it is
 * skipped (the Omniglot one needs the archives: a skip, or an error in CI, see support/require.ts).
 */
const EXAMPLES: { name: string; output: RegExp; args?: string[]; skip?: string | false }[] = [
  { name: 'sine-sequential', output: /adapted MSE on new sine waves: meta-trained \d+\.\d+, untrained \d+\.\d+/ },
  { name: 'omniglot-own-cnn', output: /omniglot 5-way 1-shot on 80 held-out characters: un-meta-trained [\d.]+%, after 500 Reptile meta-iterations [\d.]+%/, args: [OMNIGLOT_DATA], skip: omniglotRequirement(['images_background.zip']) },
  { name: 'quadratics-distribution', output: /quadratics: MSE after 32 steps on 10 points, un-meta-trained [\d.]+, meta-trained [\d.]+/ },
];

for (const { name, output, args = [], skip = false } of EXAMPLES) {
  test(`examples/${name}.ts runs and learns`, { skip }, async () => {
    // execFile rejects on a non-zero exit code, with the example's stderr in the error.
    const { stdout } = await run(process.execPath, [`${root}dist/examples/${name}.js`, ...args], { cwd: root, timeout: 300_000 });
    assert.match(stdout, output);
  });
}

test("README's library section shows examples/sine-sequential.ts (below its header comment), imported by the package name", async () => {
  const [readme, example, pkg] = await Promise.all(['README.md', 'examples/sine-sequential.ts', 'package.json'].map((f) => readFile(`${root}${f}`, 'utf8')));
  const body = example.slice(example.indexOf(' */\n') + 4).replace("'../src/index.js'", `'${(JSON.parse(pkg) as { name: string }).name}'`);
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.equal(snippet, body);
  assert.ok(body.trimEnd().split('\n').length <= 20, 'at most 20 lines');
});
