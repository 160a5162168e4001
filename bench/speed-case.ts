/**
 * One row of `npm run bench`, in a process of its own so that its peak RSS is its own: a Reptile
 * meta-training loop on one configuration, printing one JSON line
 * {config, backend, workers, metaIters, msPerMetaIter, cpuMsPerMetaIter, peakRssMiB}.
 *
 *   node dist/bench/speed-case.js --config mlp|conv|miniimagenet|sine [--backend wasm|cpu] [--workers N] [--iters N] [--fused false] [--fused-loop false] [--native false]
 *
 * mlp / conv: the article's 784-64-64-5 MLP or the paper's Omniglot CNN; 5-way, train-shots 10,
 * inner-batch 10, inner-iters 5, meta-batch 5, Adam lr 0.001 beta1 0 with its state kept across
 * tasks. sine: 1-64-64-1 tanh, meta-batch 1, 5 SGD steps of 10 points, lr 0.02. Omniglot-shaped
 * data is synthetic (random 28x28 images; speed does not depend on pixel values).
 * miniimagenet: the paper's Mini-ImageNet CNN (84x84x3, 4 x [conv 3x3/32 stride 1, batch norm,
 * max-pool 2x2, ReLU]) with its 5-way settings (train-shots 15, inner-batch 10, inner-iters 8,
 * meta-batch 5, Adam lr 0.001 beta1 0), on synthetic 84x84 RGB images (64 classes x 20).
 */
import { parseArgs } from 'node:util';
import { useBackend, type BackendChoice } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { mlp } from '../src/nn/mlp.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy, meanSquaredError } from '../src/nn/losses.js';
import { adam, sgd } from '../src/nn/optimizers.js';
import { SineDistribution } from '../src/tasks/sine.js';
import { FewShotClassification, type ExampleClass } from '../src/tasks/few-shot.js';
import type { TaskDistribution } from '../src/tasks/task.js';
import { Reptile } from '../src/algorithms/reptile.js';
import { metaTrain } from '../src/train/meta-train.js';
import { innerLoopOnThreads } from '../src/parallel/worker-pool.js';
import type { KernelChoice } from '../src/algorithms/select-inner-loop.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'mlp' },
    backend: { type: 'string', default: 'wasm' },
    workers: { type: 'string', default: '0' },
    iters: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '5' },
    // 'false': the composed optimizer updates (the code before the fused kernels), for before/after.
    fused: { type: 'string', default: 'true' },
    // 'false': the tfjs inner loop (stacked on the pool) instead of the fused kernels (native/*.c).
    'fused-loop': { type: 'string', default: 'true' },
    // 'false': the fused CNN kernel's WebAssembly build instead of the native addon (here and in the pool's threads).
    native: { type: 'string', default: 'true' },
  },
});
const config = values.config!;
if (!['mlp', 'conv', 'miniimagenet', 'sine'].includes(config)) throw new Error(`--config must be mlp, conv, miniimagenet or sine, got ${config}`);
const workers = Number(values.workers);
const iters = Number(values.iters);

/**
 * Synthetic classes of 20 random images of `shape`, bytes like the real caches: 1200 characters of
 * 28x28x1 (Omniglot's training split before rotations) or 64 classes of 84x84x3 (Mini-ImageNet's training split, 20 images each).
 */
function syntheticImages(count: number, shape: [number, number, number], trainShots: number): TaskDistribution {
  const rng = Rng.fromSeed(7);
  const size = shape[0] * shape[1] * shape[2];
  const pixels = Uint8Array.from({ length: count * 20 * size }, () => Math.floor(rng.uniform(0, 256)));
  const classes: ExampleClass[] = Array.from({ length: count }, (_, c) => ({
    name: `c${c}`,
    count: 20,
    image(index, out, offset) {
      const from = (c * 20 + index) * size;
      for (let i = 0; i < size; i++) out[offset + i] = pixels[from + i] / 255;
    },
  }));
  return new FewShotClassification('synthetic', classes, shape, { ways: 5, trainShots, shots: 1 });
}

const backend = await useBackend(values.backend as BackendChoice);
const sine = config === 'sine';
const miniImageNet = config === 'miniimagenet';
const tasks = sine ? new SineDistribution() : miniImageNet ? syntheticImages(64, [84, 84, 3], 15) : syntheticImages(1200, [28, 28, 1], 10);
const model = sine
  ? mlp([1, 64, 64, 1], { activation: 'tanh', init: 'pytorch' })
  : config === 'mlp'
    ? mlp([784, 64, 64, 5], { activation: 'relu', init: 'tensorflow' })
    : conv({ variant: miniImageNet ? 'miniimagenet' : 'omniglot', classes: 5, init: 'tensorflow' });
const loss = sine ? meanSquaredError() : crossEntropy('sum');
const fused = values.fused !== 'false';
const fusedLoops = fused && values['fused-loop'] !== 'false';
const kernels: KernelChoice = !fusedLoops ? 'none' : values.native === 'false' ? ['fused-mlp', 'fused-cnn-wasm'] : 'all';
const innerOptimizer = sine ? sgd({ learningRate: 0.02, fused }) : adam({ learningRate: 0.001, beta1: 0, fused });
const metaBatch = sine ? 1 : 5;
// As the CLI: the pool only where threads help (not for the fused MLP kernel: --workers n >= 1
// runs in this thread), and the pool's 'common' inner state for any --workers n >= 1.
const threaded = await innerLoopOnThreads({ model, loss, layout: tasks }, innerOptimizer, { workers: metaBatch > 1 ? workers : 0, backend, kernels });
const inThread = workers > 0 && !threaded.loop.threadsHelp;
const rng = Rng.fromSeed(0);
const theta = model.init(rng.fork());
const reptile = new Reptile({ model, loss, layout: tasks }, theta, { innerIters: miniImageNet ? 8 : 5, innerBatch: 10, metaBatch, innerOptimizer, innerLoop: threaded.loop, innerState: workers > 0 && metaBatch > 1 ? 'common' : 'chain' });
disposeParams(theta);
const streams = { tasks: rng.fork(), batches: rng.fork() };
const schedule = sine ? { metaStep: 0.1, metaStepFinal: 0, evalInterval: 0 } : { metaStep: 1, metaStepFinal: 0, evalInterval: 0 };
await metaTrain(reptile, tasks, streams, { ...schedule, metaIters: Number(values.warmup) });
const start = performance.now();
const cpuStart = process.cpuUsage();
await metaTrain(reptile, tasks, streams, { ...schedule, metaIters: iters });
const ms = (performance.now() - start) / iters;
// CPU time of the whole process (all threads): with a busy machine, a steadier measure of work.
const cpu = process.cpuUsage(cpuStart);
const cpuMs = (cpu.user + cpu.system) / 1000 / iters;
reptile.dispose();
await threaded.close();
console.log(JSON.stringify({ config, backend, workers, fused, fusedLoops, innerLoop: threaded.loop.name, inThread, metaIters: iters, msPerMetaIter: ms, cpuMsPerMetaIter: cpuMs, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
