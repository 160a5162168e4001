/** Test characters for a served Omniglot run: its data (--data, cached decode), split as it was trained. */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { loadOmniglot } from '../io/omniglot-files.js';
import { datasetCacheDir } from '../io/dataset-cache.js';
import { splitOmniglot } from '../data/splits.js';
import { sampleCharacters, type OmniglotSamples } from '../demo/samples.js';
import type { RunStatus } from './run-status.js';

/** How many test characters the page can sample from. */
export const SAMPLE_CHARACTERS = 40;

/** `dataOverride` (serve's --data) or the run's recorded --data (relative to the current directory). */
export async function omniglotSamples(status: RunStatus, dataOverride?: string): Promise<OmniglotSamples> {
  const config = status.config ?? {};
  if (config.benchmark !== 'omniglot') throw new Error(`${status.name} is not an Omniglot run`);
  const data = dataOverride ?? (typeof config.data === 'string' ? config.data : undefined);
  if (!data || !existsSync(resolve(data))) throw new Error(`the run's Omniglot data ${data ?? '(none recorded)'} is not here; pass --data DIR`);
  const loaded = await loadOmniglot(resolve(data), { cacheDir: datasetCacheDir() });
  const splits = splitOmniglot(loaded, {
    scheme: config.split === 'maml' ? 'maml' : 'reptile',
    ...(typeof config.splitSeed === 'number' ? { seed: config.splitSeed } : {}),
  });
  return sampleCharacters(splits.test, SAMPLE_CHARACTERS, typeof config.seed === 'number' ? config.seed : 0);
}
