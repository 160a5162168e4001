/**
 * Accuracy of `reptile adapt` on held-out Omniglot characters given as PNG folders, against chance
 * and against the same command without adaptation (--eval-iters 0): `--tasks` tasks of the run's
 * N-way (consecutive characters of its test split, test/support/held-out-characters.ts), `--shots`
 * example drawings per class, `--queries` other drawings per class to classify.
 *
 *   node dist/bench/adapt-images.js RUN_DIR [--data ../shared/data/omniglot] [--tasks 10] [--shots 1] [--queries 15]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runOk } from '../test/support/cli.js';
import { accuracyOf, writeHeldOutTasks } from '../test/support/held-out-characters.js';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { data: { type: 'string', default: '../shared/data/omniglot' }, tasks: { type: 'string', default: '10' }, shots: { type: 'string', default: '1' }, queries: { type: 'string', default: '15' } },
});
const run = positionals[0];
if (!run) {
  console.error('usage: node dist/bench/adapt-images.js RUN_DIR [--data DIR] [--tasks 10] [--shots 1] [--queries 15]');
  process.exit(2);
}
const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8')) as { classes: number; model: string; metaIters: number; evalIters: number };
const options = { ways: config.classes, support: Number(flags.shots), queries: Number(flags.queries), tasks: Number(flags.tasks) };
const root = await mkdtemp(join(tmpdir(), 'reptile-bench-adapt-images-'));
try {
  const tasks = await writeHeldOutTasks(flags.data!, root, options);
  for (const extra of [[], ['--eval-iters', '0']]) {
    let right = 0;
    let total = 0;
    const started = performance.now();
    for (const task of tasks) {
      const counted = accuracyOf((await runOk(['adapt', run, '--examples', task.examples, '--input', task.input, ...extra])).stdout, task);
      right += counted.right;
      total += counted.total;
    }
    const steps = extra.length > 0 ? 0 : config.evalIters;
    console.log(
      `${config.model} ${config.metaIters} meta-iterations, ${options.ways}-way ${options.support}-shot, ${steps} adaptation steps: ${((100 * right) / total).toFixed(1)}% of ${total} drawings (chance ${(100 / options.ways).toFixed(1)}%), ${((performance.now() - started) / 1000 / tasks.length).toFixed(1)} s per adapt`,
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
