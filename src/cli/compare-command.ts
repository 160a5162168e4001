/**
 * `reptile compare A.json B.json`: two classification evaluations (`reptile eval --json`) of the
 * same tasks, compared task by task. Evaluations with the same evaluation settings and seed draw
 * the same tasks, so the difference of their accuracies is paired: its confidence interval leaves
 * out how hard each task was, which the two accuracies' own intervals include.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from './errors.js';
import { pairedDifference } from '../eval/stats.js';

interface EvalFile {
  runDir?: string;
  algorithm?: string;
  benchmark?: string;
  settings?: Record<string, unknown>;
  eval?: { accuracy?: number; ci95?: number; tasks?: number; taskAccuracies?: number[] };
}

/** Settings that decide which tasks an evaluation draws (and how each is scored). */
const SAME_TASKS = ['classes', 'shots', 'evalSamples', 'seed', 'evalSplit', 'queryShots', 'data', 'textSplit', 'split', 'splitSeed', 'transductive'];

async function readEval(path: string): Promise<EvalFile & { eval: { taskAccuracies: number[]; accuracy: number; ci95: number } }> {
  let json: EvalFile;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as EvalFile;
  } catch (error) {
    throw new UsageError(`compare: cannot read ${path}: ${(error as Error).message}`);
  }
  const values = json.eval?.taskAccuracies;
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'number')) {
    throw new UsageError(`compare: ${path} has no per-task accuracies (eval.taskAccuracies): give a classification result of 'reptile eval --json' (evaluate again if it was written by an older version)`);
  }
  return json as EvalFile & { eval: { taskAccuracies: number[]; accuracy: number; ci95: number } };
}

const pct = (x: number) => (100 * x).toFixed(2);

export function registerCompareCommand(cli: Command): void {
  cli
    .command('compare')
    .description('compare two evaluations of the same tasks (files of `reptile eval --json` with the same evaluation settings, seed and class split) task by task: the mean difference of accuracy and its paired 95% confidence interval')
    .argument('<a>', "the first evaluation's JSON")
    .argument('<b>', "the second evaluation's JSON")
    .action(async (aPath: string, bPath: string) => {
      const [a, b] = [await readEval(aPath), await readEval(bPath)];
      const differing = ['benchmark', ...SAME_TASKS].filter((k) => {
        const get = (f: EvalFile) => JSON.stringify(k === 'benchmark' ? f.benchmark : f.settings?.[k]);
        return get(a) !== get(b);
      });
      if (differing.length > 0 || a.eval.taskAccuracies.length !== b.eval.taskAccuracies.length) {
        throw new UsageError(`compare: ${aPath} and ${bPath} were not evaluated on the same tasks (they differ in ${differing.join(', ') || 'their number of tasks'}); evaluate both with the same settings and --seed`);
      }
      const d = pairedDifference(a.eval.taskAccuracies, b.eval.taskAccuracies);
      const line = (name: string, f: typeof a) => `${name}: ${f.algorithm ?? '?'} ${pct(f.eval.accuracy)}% +- ${pct(f.eval.ci95)}% (${f.runDir ?? '?'})`;
      const verdict = d.mean - d.ci95 > 0 ? 'A is better beyond the 95% interval' : d.mean + d.ci95 < 0 ? 'B is better beyond the 95% interval' : 'no difference beyond the 95% interval';
      console.log(line('A', a));
      console.log(line('B', b));
      console.log(`A - B: ${d.mean >= 0 ? '+' : ''}${pct(d.mean)} +- ${pct(d.ci95)} points, paired over the same ${a.eval.taskAccuracies.length} tasks: ${verdict}`);
    });
}
