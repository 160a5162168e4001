/**
 * Milliseconds per training step of the paper's CNNs (batch 10, 5-way, Adam, summed
 * cross-entropy): the wasm backend with this library's kernels (src/kernels), with the
 * alternatives they were chosen over, and the cpu backend.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/conv-step.js [--steps 50] [--cpu-steps 3] [--model omniglot|miniimagenet] [--json]
 */
import { parseArgs } from 'node:util';
import { tf } from '../src/core/tf.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { conv } from '../src/nn/conv.js';
import { crossEntropy } from '../src/nn/losses.js';
import { adam, disposeOptimizerState } from '../src/nn/optimizers.js';
import { trainStep } from '../src/algorithms/inner-loop.js';
import { setConv2DBackpropFilterMethod, useOriginalKernel } from '../src/kernels/index.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    'cpu-steps': { type: 'string', default: '3' },
    model: { type: 'string', default: 'omniglot' },
    json: { type: 'boolean', default: false },
  },
});
const variant = values.model === 'miniimagenet' ? 'miniimagenet' : 'omniglot';

interface Row {
  setup: string;
  steps: number;
  medianMs: number;
  minMs: number;
}

async function measure(setup: string, backend: 'wasm' | 'cpu', steps: number, configure: () => void = () => {}): Promise<Row> {
  await tf.setBackend(backend);
  configure();
  const model = conv({ variant, classes: 5 });
  let params = model.init(Rng.fromSeed(1));
  const optimizer = adam({ learningRate: 0.001, beta1: 0 });
  let state = optimizer.init(params);
  const rng = Rng.fromSeed(2);
  const shape = [10, ...model.inputShape];
  const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(0, 1)), shape);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], 'int32');
  const loss = crossEntropy('sum');
  const times: number[] = [];
  const warmup = backend === 'cpu' ? 1 : 5;
  for (let i = 0; i < steps + warmup; i++) {
    const t0 = performance.now();
    const r = trainStep(model, loss, optimizer, params, state, { x, y });
    r.loss.dataSync();
    if (i >= warmup) times.push(performance.now() - t0);
    r.loss.dispose();
    disposeParams(params);
    disposeOptimizerState(state);
    params = r.params;
    state = r.state;
  }
  disposeParams(params);
  disposeOptimizerState(state);
  tf.dispose([x, y]);
  times.sort((a, b) => a - b);
  return { setup, steps, medianMs: times[times.length >> 1], minMs: times[0] };
}

const steps = Number(values.steps);
const rows: Row[] = [];
const few = Math.max(5, steps >> 2);
rows.push(await measure('wasm, reptile kernels (default)', 'wasm', steps));
rows.push(await measure('wasm, backprop-filter forced to im2col', 'wasm', few, () => setConv2DBackpropFilterMethod('im2col')));
rows.push(await measure('wasm, backprop-filter forced to direct JS loops', 'wasm', few, () => setConv2DBackpropFilterMethod('direct')));
setConv2DBackpropFilterMethod('auto');
rows.push(await measure("wasm, the backend's own Conv2DBackpropInput", 'wasm', few, () => useOriginalKernel('Conv2DBackpropInput', 'wasm', true)));
useOriginalKernel('Conv2DBackpropInput', 'wasm', false);
rows.push(await measure("wasm, the backend's own (wrong) MaxPoolGrad", 'wasm', few, () => useOriginalKernel('MaxPoolGrad', 'wasm', true)));
useOriginalKernel('MaxPoolGrad', 'wasm', false);
const cpuSteps = Number(values['cpu-steps']);
if (cpuSteps > 0) rows.push(await measure('cpu (pure JavaScript backend)', 'cpu', cpuSteps));

if (values.json) {
  console.log(JSON.stringify({ model: variant, batch: 10, ways: 5, optimizer: 'adam', tfjs: tf.version.tfjs, rows }, null, 2));
} else {
  console.log(`${variant} CNN, batch 10, 5-way, Adam: ms per training step (median, min)`);
  for (const r of rows) console.log(`${r.setup.padEnd(72)} ${r.medianMs.toFixed(1).padStart(9)} ${r.minMs.toFixed(1).padStart(9)}  (${r.steps} steps)`);
}
