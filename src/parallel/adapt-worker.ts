/**
 * A worker thread that adapts meta-parameters to tasks (worker-pool.ts sends the work). It runs
 * the same inner loop as the main thread (src/algorithms/inner-loop.ts) on its own TensorFlow.js
 * backend, so a task's result does not depend on which worker ran it.
 */
import { parentPort } from 'node:worker_threads';
import { useBackend } from '../core/backend.js';
import { disposeParams, paramsFromHost, paramsToHost } from '../core/params.js';
import { buildModel } from '../nn/build.js';
import { lossFromSpec } from '../nn/losses.js';
import { disposeOptimizerState, optimizerFromConfig } from '../nn/optimizers.js';
import { adapt, disposeBatch, toBatch } from '../algorithms/inner-loop.js';
import { hostBuffers, stateFromHost, stateToHost } from './host-state.js';
import type { AdaptResultHost, FromWorker, ToWorker } from './protocol.js';

if (!parentPort) throw new Error('adapt-worker.js runs as a worker thread (see worker-pool.ts)');
const port = parentPort;

type Runner = (message: Extract<ToWorker, { type: 'adapt' }>) => Promise<AdaptResultHost[]>;
let run: Runner | undefined;

async function init(message: Extract<ToWorker, { type: 'init' }>): Promise<string> {
  const { recipe } = message;
  const backend = await useBackend(recipe.backend);
  const model = buildModel(recipe.model);
  const loss = lossFromSpec(recipe.loss);
  const optimizer = optimizerFromConfig(recipe.optimizer.name, recipe.optimizer.config);
  run = async ({ theta: hostTheta, state, jobs }) => {
    const theta = paramsFromHost(hostTheta);
    const results: AdaptResultHost[] = [];
    try {
      for (const job of jobs) {
        const batches = job.batches.map((idx) => toBatch(recipe.layout, job, idx));
        const start = state ? stateFromHost(state) : optimizer.init(theta);
        const r = adapt(model, loss, optimizer, theta, start, batches);
        batches.forEach(disposeBatch);
        disposeOptimizerState(start);
        const [phi, endState, lossSum] = await Promise.all([paramsToHost(r.params), stateToHost(r.state), r.lossSum.data()]);
        disposeParams(r.params);
        disposeOptimizerState(r.state);
        r.lossSum.dispose();
        results.push({ phi, state: endState, lossSum: lossSum[0] });
      }
    } finally {
      disposeParams(theta);
    }
    return results;
  };
  return backend;
}

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

port.on('message', (message: ToWorker) => {
  const id = message.type === 'adapt' ? message.id : undefined;
  const work = async () => {
    if (message.type === 'init') {
      send({ type: 'ready', backend: await init(message) });
      return;
    }
    if (!run) throw new Error('adapt request before init');
    const results = await run(message);
    const transfer = results.flatMap((r) => [...hostBuffers(r.phi), ...Object.values(r.state.slots).flatMap(hostBuffers)]);
    send({ type: 'adapted', id: id!, results }, transfer);
  };
  work().catch((error: unknown) => send({ type: 'failed', id, message: error instanceof Error ? error.message : String(error) }));
});
