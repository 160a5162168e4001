/**
 * A worker thread that adapts meta-parameters to tasks (worker-pool.ts sends the work) with the
 * same task runner as the main thread, on its own TensorFlow.js backend.
 */
import { parentPort } from 'node:worker_threads';
import { useBackend } from '../core/backend.js';
import { hostBuffers } from './host-state.js';
import { createTaskRunner, type TaskRunner } from './task-runner.js';
import type { FromWorker, ToWorker } from './protocol.js';

if (!parentPort) throw new Error('adapt-worker.js runs as a worker thread (see worker-pool.ts)');
const port = parentPort;
let run: TaskRunner | undefined;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

port.on('message', (message: ToWorker) => {
  const id = message.type === 'adapt' ? message.id : undefined;
  const work = async () => {
    if (message.type === 'init') {
      const backend = await useBackend(message.recipe.backend);
      run = createTaskRunner(message.recipe);
      send({ type: 'ready', backend });
      return;
    }
    if (!run) throw new Error('adapt request before init');
    const { results, lossSum } = await run(message.theta, message.state, message.jobs);
    // The results' buffers move to the main thread instead of being copied.
    const transfer = results.flatMap((r) => [...hostBuffers(r.phi), ...Object.values(r.state.slots).flatMap(hostBuffers)]);
    send({ type: 'adapted', id: id!, results, lossSum }, transfer);
  };
  work().catch((error: unknown) => send({ type: 'failed', id, message: error instanceof Error ? error.message : String(error) }));
});
