/**
 * `npm run bench`: speed of a sine-wave meta-iteration (the paper's settings) on each
 * TensorFlow.js backend, and side by side with the PyTorch reference (bench/sine_reference.py)
 * when Debian's python3-torch is installed. Prints a table; `--json` prints the raw numbers.
 *
 *   npm run bench [-- --iters 500 --backends wasm,cpu --json]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.js';
import { useBackend, type BackendChoice } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { mlp } from '../src/nn/mlp.js';
import { meanSquaredError } from '../src/nn/losses.js';
import { sgd } from '../src/nn/optimizers.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { metaTrain } from '../src/train/meta-train.js';
import { evaluateRegression } from '../src/eval/regression.js';

const { values } = parseArgs({
  options: {
    iters: { type: 'string', default: '500' },
    backends: { type: 'string', default: 'wasm,cpu' },
    json: { type: 'boolean', default: false },
    'no-pytorch': { type: 'boolean', default: false },
  },
});
const iters = Number(values.iters);
const innerIters = 5;

interface Row {
  implementation: string;
  msPerMetaIteration: number;
  msPerInnerStep: number;
  msPerEvalTask?: number;
  peakRssMiB: number;
}

async function benchBackend(backend: BackendChoice): Promise<Row> {
  const used = await useBackend(backend);
  const rng = Rng.fromSeed(0);
  const tasks = new SineDistribution();
  const model = mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' });
  const loss = meanSquaredError();
  const theta = model.init(rng.fork());
  const reptile = new Reptile({ model, loss, layout: tasks }, theta, {
    innerIters, innerBatch: 10, metaBatch: 1, innerOptimizer: sgd({ learningRate: 0.02 }),
  });
  tf.dispose(Object.values(theta));
  const streams = { tasks: rng.fork(), batches: rng.fork() };
  const options = { metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 };
  await metaTrain(reptile, tasks, streams, { ...options, metaIters: 50 }); // warm-up
  const start = performance.now();
  await metaTrain(reptile, tasks, streams, { ...options, metaIters: iters });
  const ms = (performance.now() - start) / iters;
  const evalTasks = 50;
  const evalStart = performance.now();
  await evaluateRegression(model, loss, tasks, reptile.params, (r) => tasks.sampleEvalTask(r),
    { tasks: evalTasks, evalIters: 32, evalBatch: 10, optimizer: sgd({ learningRate: 0.02 }) }, rng.fork());
  const msEval = (performance.now() - evalStart) / evalTasks;
  reptile.dispose();
  return { implementation: `tfjs-${used}`, msPerMetaIteration: ms, msPerInnerStep: ms / innerIters, msPerEvalTask: msEval, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

function benchPytorch(threads: number): Row | string {
  const python = '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/sine_reference.py');
  const hasTorch = existsSync(python) && (() => {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasTorch) return 'PyTorch not found: apt-get install -y python3-torch libopenblas0-pthread (then rerun) for the side-by-side numbers';
  const out = execFileSync(python, [script, '--meta-iters', String(Math.max(iters, 1000)), '--eval-samples', '10', '--threads', String(threads)], { encoding: 'utf8' });
  const result = JSON.parse(out) as { msPerMetaIter: number };
  return { implementation: `pytorch-${threads}thread`, msPerMetaIteration: result.msPerMetaIter, msPerInnerStep: result.msPerMetaIter / innerIters, peakRssMiB: NaN };
}

const rows: Row[] = [];
const notes: string[] = [];
for (const backend of values.backends!.split(',')) rows.push(await benchBackend(backend as BackendChoice));
if (!values['no-pytorch']) {
  for (const threads of [1, 2]) {
    const r = benchPytorch(threads);
    if (typeof r === 'string') {
      notes.push(r);
      break;
    }
    rows.push(r);
  }
}
if (values.json) {
  console.log(JSON.stringify({ benchmark: 'sine reptile (paper settings)', iters, rows, notes }, null, 2));
} else {
  const torch = rows.find((r) => r.implementation === 'pytorch-1thread');
  console.log(`sine-wave Reptile, paper settings (1-64-64-1 tanh, 5 inner SGD steps of 10 points), ${iters} meta-iterations`);
  console.log('| implementation | ms / meta-iteration | ms / inner step | ms / eval task (32 steps) | peak RSS MiB | speed vs PyTorch 1 thread |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = torch ? (torch.msPerMetaIteration / r.msPerMetaIteration).toFixed(2) + 'x' : 'n/a';
    console.log(`| ${r.implementation} | ${r.msPerMetaIteration.toFixed(2)} | ${r.msPerInnerStep.toFixed(3)} | ${r.msPerEvalTask?.toFixed(1) ?? '-'} | ${Number.isNaN(r.peakRssMiB) ? '-' : r.peakRssMiB.toFixed(0)} | ${ratio} |`);
  }
  notes.forEach((n) => console.log(`note: ${n}`));
}
