/**
 * `reptile train --dashboard`'s server in a worker thread: training runs long synchronous
 * TensorFlow.js steps on the main thread, which would leave an in-process server unable to
 * answer (pages time out). The worker serves the run directory from disk on its own event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startServer } from './server.js';
import { singleRun } from './run-source.js';

interface DashboardWorkerData {
  runDir: string;
  host: string;
  port: number;
}

const data = workerData as DashboardWorkerData;
try {
  const server = await startServer({ source: singleRun(data.runDir), host: data.host, port: data.port });
  parentPort!.postMessage({ url: server.url });
  parentPort!.once('message', () => {
    void server.close().then(() => parentPort!.close());
  });
} catch (error) {
  parentPort!.postMessage({ error: (error as Error).message, code: (error as NodeJS.ErrnoException).code });
  parentPort!.close();
}
