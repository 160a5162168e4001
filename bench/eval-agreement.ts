/**
 * The measurements behind docs/evaluation.md (issue 18): do the evaluations agree with each other?
 *
 *   node dist/bench/eval-agreement.js periodic FROM TO [--final-tasks 300] [--data DIR]
 *     Scratch runs (never trained) of the baselines experiment's Omniglot cell (MLP, 5-way 1-shot,
 *     inner SGD 0.05), seeds FROM..TO-1: each run's periodic test evaluation (20 tasks of its
 *     periodic stream) against its final one (its final stream), then the periodic draws of seeds
 *     0, 1, 2 scored by 10 other initialisations.
 *   node dist/bench/eval-agreement.js draws SEED [--draws 100]
 *     Seed SEED's scratch parameters on 20-task draws from the periodic streams of seeds 1000,
 *     1001, ... against 20-task draws from the final streams of the same seeds.
 *   node dist/bench/eval-agreement.js page RUN_DIR [--trials 8] [--tasks 200]
 *     An Omniglot run: the page's first `trials` sampled 1-shot tasks scored by the page's path and
 *     by reptile eval's on the same tasks; then `tasks` tasks from the page's 40-character pool
 *     against `tasks` tasks from every test character (5 queries per class in both).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { loadModel } from '../src/io/model-files.js';
import { resolveTrainConfig } from '../src/cli/train-options.js';
import { benchmarkSetup } from '../src/cli/benchmarks/index.js';
import { loadOmniglotSplits } from '../src/cli/benchmarks/omniglot.js';
import { evaluationOptions } from '../src/cli/library-options.js';
import { runStreams } from '../src/cli/streams.js';
import { taskAccuracy } from '../src/eval/classification.js';
import { FewShotClassification } from '../src/tasks/few-shot.js';
import { FewShotDemo, adaptationOf, decodeSamples, sampleCharacters, samplePageTask, type LabelledExamples, type RunSettings } from '../src/demo/index.js';
import { SAMPLE_CHARACTERS } from '../src/serve/omniglot-samples.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a: number[]) => Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1));
const pct = (x: number) => (100 * x).toFixed(1);

/** The baselines experiment's Omniglot cell (src/cli/experiment) for `seed`. */
function baselinesConfig(seed: number, finalTasks: number) {
  const data = flag('data', '../shared/data/omniglot');
  return resolveTrainConfig('omniglot', { data, model: 'mlp', classes: 5, shots: 1, innerOptimizer: 'sgd', learningRate: 0.05, seed, evalIntervalSamples: 20, evalSamples: finalTasks });
}

async function periodic(from: number, to: number): Promise<void> {
  const finalTasks = Number(flag('final-tasks', '300'));
  const diffs: number[] = [];
  for (let seed = from; seed < to; seed++) {
    const setup = await benchmarkSetup(baselinesConfig(seed, finalTasks));
    const params = setup.model.init(runStreams(seed).init);
    const p = (await setup.evaluatePeriodic(params)).testAccuracy;
    const f = Number((await setup.evaluateFinal(params)).accuracy);
    diffs.push(p - f);
    console.log(`seed ${seed}: periodic ${pct(p)}% final ${pct(f)}% difference ${pct(p - f)}`);
    disposeParams(params);
  }
  console.log(`periodic - final over ${diffs.length} seeds: mean ${pct(mean(diffs))} points, standard error ${pct(sd(diffs) / Math.sqrt(diffs.length))}; periodic below final in ${diffs.filter((d) => d < 0).length}`);
  // Are the baselines' own periodic draws (seeds 0, 1, 2) hard tasks, whatever the parameters?
  const setups = await Promise.all([0, 1, 2].map((s) => benchmarkSetup(baselinesConfig(s, finalTasks))));
  const rows: number[][] = [[], [], [], []];
  for (let init = 10; init < 20; init++) {
    const params = setups[0].model.init(runStreams(init).init);
    for (const s of [0, 1, 2]) rows[s].push((await setups[s].evaluatePeriodic(params)).testAccuracy);
    rows[3].push(Number((await setups[0].evaluateFinal(params)).accuracy));
    disposeParams(params);
  }
  rows.forEach((r, i) => console.log(`${i < 3 ? `seed ${i}'s periodic test tasks` : `seed 0's final ${finalTasks} tasks`}, scratch from 10 other initialisations: mean ${pct(mean(r))}% [${r.map(pct).join(' ')}]`));
}

async function draws(seed: number): Promise<void> {
  const setup = await benchmarkSetup(baselinesConfig(seed, 20));
  const params = setup.model.init(runStreams(seed).init);
  const onInterval: number[] = [];
  const onFinal: number[] = [];
  for (let k = 0; k < Number(flag('draws', '100')); k++) {
    // Another seed's setup evaluates that seed's streams (the parameters are seed SEED's).
    const other = await benchmarkSetup(baselinesConfig(1000 + k, 20));
    onInterval.push((await other.evaluatePeriodic(params)).testAccuracy);
    onFinal.push(Number((await other.evaluateFinal(params)).accuracy));
  }
  console.log(`seed ${seed}'s scratch parameters, ${onInterval.length} draws of 20 tasks: periodic streams ${pct(mean(onInterval))}% (sd ${pct(sd(onInterval))}), final streams ${pct(mean(onFinal))}% (sd ${pct(sd(onFinal))})`);
  disposeParams(params);
}

async function page(run: string): Promise<void> {
  const recorded = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as RunSettings & Record<string, unknown>;
  const flags: Record<string, unknown> = {};
  for (const k of ['data', 'model', 'classes', 'shots', 'innerOptimizer', 'learningRate', 'momentum', 'adamBeta1', 'adamBeta2', 'evalIters', 'evalBatch', 'seed', 'split', 'splitSeed', 'transductive', 'hidden', 'activation', 'innerLoop']) {
    if (recorded[k] !== undefined) flags[k] = recorded[k];
  }
  const config = resolveTrainConfig('omniglot', flags);
  const setup = await benchmarkSetup(config);
  const { model, params } = await loadModel(join(run, 'model'));
  const splits = await loadOmniglotSplits(config);
  // The samples file as the server writes it and the page reads it.
  const samples = decodeSamples(JSON.parse(JSON.stringify(sampleCharacters(splits.test, SAMPLE_CHARACTERS, recorded.seed))));
  const demo = new FewShotDemo(model, params, adaptationOf(recorded));
  const options = evaluationOptions(config);
  const flat = (e: LabelledExamples) => ({ count: e.x.length, x: Float32Array.from(e.x.flatMap((v) => Array.from(v))), y: Int32Array.from(e.y) });
  const trials = Number(flag('trials', '8'));
  const rng = Rng.fromSeed(recorded.seed);
  const onPage: number[] = [];
  const inEval: number[] = [];
  for (let t = 0; t < trials; t++) {
    const task = samplePageTask(samples, demo.ways, 1, rng);
    const adaptSeed = rng.int(2 ** 31);
    await demo.adapt(task.support, adaptSeed);
    onPage.push(await demo.accuracy(task.heldOut));
    inEval.push(await taskAccuracy(setup.model, setup.loss, setup.trainTasks, params, { support: flat(task.support), query: flat(task.heldOut) }, options, Rng.fromSeed(adaptSeed)));
  }
  console.log(`${run}: the page's first ${trials} sampled 1-shot tasks (seed ${recorded.seed}): page ${pct(mean(onPage))}% [${onPage.map(pct).join(' ')}], reptile eval's path on the same tasks ${pct(mean(inEval))}% [${inEval.map(pct).join(' ')}]`);
  const tasks = Number(flag('tasks', '200'));
  const fromPool: number[] = [];
  const poolRng = Rng.fromSeed(12345);
  for (let t = 0; t < tasks; t++) {
    const task = samplePageTask(samples, demo.ways, 1, poolRng);
    fromPool.push(await taskAccuracy(setup.model, setup.loss, setup.trainTasks, params, { support: flat(task.support), query: flat(task.heldOut) }, options, poolRng));
  }
  const test = new FewShotClassification('test', splits.test.classes, [28, 28, 1], { ways: demo.ways, trainShots: 1, shots: 1, queryShots: 5 });
  const fromAll: number[] = [];
  const allRng = Rng.fromSeed(54321);
  for (let t = 0; t < tasks; t++) fromAll.push(await taskAccuracy(setup.model, setup.loss, setup.trainTasks, params, test.sampleEvalTask(allRng), options, allRng));
  const line = (a: number[]) => `${pct(mean(a))}% +- ${pct((1.96 * sd(a)) / Math.sqrt(a.length))}`;
  console.log(`${tasks} tasks from the page's ${samples.length}-character pool: ${line(fromPool)}; ${tasks} tasks from all ${splits.test.classes.length} test characters: ${line(fromAll)} (5 queries per class, task sd ${pct(sd(fromAll))})`);
  demo.dispose();
}

await useBackend('wasm');
if (args[0] === 'periodic' && args.length >= 3) await periodic(Number(args[1]), Number(args[2]));
else if (args[0] === 'draws' && args[1]) await draws(Number(args[1]));
else if (args[0] === 'page' && args[1]) await page(args[1]);
else {
  console.error('usage: node dist/bench/eval-agreement.js periodic FROM TO [--final-tasks 300] [--data DIR] | draws SEED [--draws 100] | page RUN_DIR [--trials 8] [--tasks 200]');
  process.exit(2);
}
