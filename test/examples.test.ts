/**
 * The examples in examples/ run as a user runs them (node dist/examples/NAME.js, a child process)
 * and each asserts by itself that learning happened; a failed assertion exits non-zero. Their
 * measured numbers are in their comments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './support/cli.js';
import { OMNIGLOT_DATA, omniglotRequirement } from './support/require.js';

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '../examples');

async function runExample(name: string, args: string[] = []): Promise<string> {
  const r = await runCli(args, { script: resolve(EXAMPLES, `${name}.js`) });
  assert.equal(r.code, 0, `examples/${name}.ts exited ${r.signal ?? r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

test('examples/quadratics-distribution.ts: Reptile on your own TaskDistribution cuts the adapted MSE at least 4-fold', async () => {
  assert.match(await runExample('quadratics-distribution'), /quadratics: MSE after 32 steps on 10 points, un-meta-trained [\d.]+, meta-trained [\d.]+/);
});

test('examples/omniglot-own-cnn.ts: your own tf.sequential CNN meta-trained on Omniglot beats itself un-meta-trained', { skip: omniglotRequirement(['images_background.zip']) }, async () => {
  assert.match(await runExample('omniglot-own-cnn', [OMNIGLOT_DATA]), /omniglot 5-way 1-shot on 80 held-out characters: un-meta-trained [\d.]+%, after 500 Reptile meta-iterations [\d.]+%/);
});
