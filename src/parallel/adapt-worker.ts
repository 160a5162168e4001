/**
 * A worker thread that adapts meta-parameters to tasks, and at evaluation scores them (worker-pool.ts
 * sends the work), with the inner loop the factory chooses for its recipe, on its own TensorFlow.js backend.
 */
import { parentPort } from 'node:worker_threads';
import { useBackend } from '../core/backend.js';
import type { HostParams } from '../core/params.js';
import type { ScoringSetup } from '../eval/classification.js';
import { recipeSetup, runChunk, scoreChunk } from './task-runner.js';
import type { FromWorker, ToWorker } from './protocol.js';

if (!parentPort) throw new Error('adapt-worker.js runs as a worker thread (see worker-pool.ts)');
const port = parentPort;
let setup: ScoringSetup | undefined;
/** The test hook's request that throws in this thread (AdaptRecipe.throwForTest), and requests so far. */
let throwAt: number | undefined;
let requests = 0;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const buffers = (params: HostParams) => params.values.map((v) => v.buffer as ArrayBuffer);

type Request<T extends ToWorker['type']> = Extract<ToWorker, { type: T }>;

async function adapt(setup: ScoringSetup, message: Request<'adapt'>): Promise<[FromWorker, ArrayBuffer[]]> {
  const result = await runChunk(setup.loop, message.theta, message.state, message.jobs, message.mode);
  // The results' buffers move to the main thread instead of being copied.
  const transfer = [...result.phis.flatMap(buffers), ...(result.states ?? []).flatMap((s) => Object.values(s.slots).flatMap(buffers))];
  return [{ type: 'adapted', id: message.id, result }, transfer];
}

async function score(setup: ScoringSetup, message: Request<'score'>): Promise<[FromWorker, ArrayBuffer[]]> {
  return [{ type: 'scored', id: message.id, correct: await scoreChunk(setup, message.theta, message.jobs, message.transductive) }, []];
}

port.on('message', (message: ToWorker) => {
  const id = message.type === 'init' ? undefined : message.id;
  const work = async () => {
    if (message.type === 'init') {
      const backend = await useBackend(message.recipe.backend);
      setup = recipeSetup(message.recipe);
      const hook = message.recipe.throwForTest;
      throwAt = hook?.worker === message.index ? hook.request : undefined;
      send({ type: 'ready', backend });
      return;
    }
    if (!setup) throw new Error(`${message.type} request before init`);
    const [reply, transfer] = message.type === 'score' ? await score(setup, message) : await adapt(setup, message);
    if (++requests === throwAt) throw new Error(`thrown in request ${requests} by the test hook REPTILE_TEST_WORKER_THROW`);
    send(reply, transfer);
  };
  work().catch((error: unknown) => send({ type: 'failed', id, message: error instanceof Error ? error.message : String(error) }));
});
