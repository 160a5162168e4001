/**
 * `reptile serve RUN_DIR --export DIR`: the demo as static files for any web server, with the
 * same URLs as the live server (runs.json, runs/<name>/...), so the page needs no server code.
 * DIR must be new or empty: nothing already there is overwritten.
 */
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readRunStatus } from './run-status.js';
import { insideDir } from './safe-path.js';
import { PAGE_DIR } from './server.js';
import { SAMPLES_FILE, type OmniglotSamples } from '../demo/samples.js';
import { RUN_FILES } from '../io/run-dir.js';

const COPIED = [RUN_FILES.config, RUN_FILES.summary, RUN_FILES.metrics, 'model/model.json', 'model/weights.bin'];

export class ExportError extends Error {}

export async function exportStatic(name: string, runDir: string, out: string, samples?: (status: Awaited<ReturnType<typeof readRunStatus>>) => Promise<OmniglotSamples>): Promise<string[]> {
  if (existsSync(out) && (await readdir(out)).length > 0) throw new ExportError(`--export ${out}: the directory is not empty; choose a new one`);
  const status = await readRunStatus(name, runDir);
  if (status.state === 'error') throw new ExportError(`${runDir}: ${status.error}`);
  if (!existsSync(join(runDir, 'model', 'model.json'))) throw new ExportError(`${runDir}: no model/model.json (the run has not finished its first phase)`);
  const notes: string[] = [];
  await mkdir(out, { recursive: true });
  await cp(PAGE_DIR, out, { recursive: true });
  const runOut = join(out, 'runs', name);
  for (const file of COPIED) {
    const source = await insideDir(runDir, file);
    if (!source) continue;
    await mkdir(dirname(join(runOut, file)), { recursive: true });
    await cp(source, join(runOut, file));
  }
  await writeFile(join(runOut, 'run.json'), JSON.stringify(status));
  await writeFile(join(out, 'runs.json'), JSON.stringify([{ name, state: status.state, config: status.config, summary: status.summary, points: status.metrics.length }]));
  if (samples) {
    try {
      await writeFile(join(runOut, SAMPLES_FILE), JSON.stringify(await samples(status)));
    } catch (error) {
      notes.push(`no ${SAMPLES_FILE} (${(error as Error).message}): the page will offer drawing only`);
    }
  }
  return notes;
}
