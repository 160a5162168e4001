/**
 * A worker thread that adapts meta-parameters to tasks (worker-pool.ts sends the work) with the
 * inner loop the factory chooses for its recipe, on its own TensorFlow.js backend.
 */
import { parentPort } from 'node:worker_threads';
import { useBackend } from '../core/backend.js';
import type { InnerLoop } from '../core/inner-loop.js';
import type { HostParams } from '../core/params.js';
import { recipeInnerLoop, runChunk } from './task-runner.js';
import type { FromWorker, ToWorker } from './protocol.js';

if (!parentPort) throw new Error('adapt-worker.js runs as a worker thread (see worker-pool.ts)');
const port = parentPort;
let loop: InnerLoop | undefined;
/** The test hook's request that throws in this thread (AdaptRecipe.throwForTest), and requests so far. */
let throwAt: number | undefined;
let requests = 0;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const buffers = (params: HostParams) => params.values.map((v) => v.buffer as ArrayBuffer);

port.on('message', (message: ToWorker) => {
  const id = message.type === 'adapt' ? message.id : undefined;
  const work = async () => {
    if (message.type === 'init') {
      const backend = await useBackend(message.recipe.backend);
      loop = recipeInnerLoop(message.recipe);
      const hook = message.recipe.throwForTest;
      throwAt = hook?.worker === message.index ? hook.request : undefined;
      send({ type: 'ready', backend });
      return;
    }
    if (!loop) throw new Error('adapt request before init');
    const result = await runChunk(loop, message.theta, message.state, message.jobs, message.mode);
    if (++requests === throwAt) throw new Error(`thrown in request ${requests} by the test hook REPTILE_TEST_WORKER_THROW`);
    // The results' buffers move to the main thread instead of being copied.
    const transfer = [...result.phis.flatMap(buffers), ...(result.states ?? []).flatMap((s) => Object.values(s.slots).flatMap(buffers))];
    send({ type: 'adapted', id: id!, result }, transfer);
  };
  work().catch((error: unknown) => send({ type: 'failed', id, message: error instanceof Error ? error.message : String(error) }));
});
