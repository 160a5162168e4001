/**
 * Which run directories a server shows, by name: one run (`reptile serve RUN_DIR`,
 * `reptile train --dashboard`) or every run folder directly inside a directory
 * (`reptile dashboard RUNS_DIR`, listed anew on each request so new runs appear).
 */
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { RUN_FILES } from '../io/run-dir.js';

export interface RunSource {
  /** Run name -> absolute directory. */
  runs(): Promise<Map<string, string>>;
}

/** A name that is safe as one URL path segment and one file name. */
export function runName(dir: string): string {
  const name = basename(resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '_');
  return name === '' || name === '.' || name === '..' ? 'run' : name;
}

export function singleRun(dir: string): RunSource {
  const map = new Map([[runName(dir), resolve(dir)]]);
  return { runs: async () => map };
}

export function runsFolder(root: string): RunSource {
  const base = resolve(root);
  return {
    async runs() {
      const map = new Map<string, string>();
      let entries;
      try {
        entries = await readdir(base, { withFileTypes: true });
      } catch {
        return map;
      }
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (!e.isDirectory() || e.name.startsWith('.')) continue;
        const dir = join(base, e.name);
        // A folder with any run file (a half-written run too) is listed; others are not runs.
        if ([RUN_FILES.config, RUN_FILES.metrics, RUN_FILES.summary].some((f) => existsSync(join(dir, f))) && runName(dir) === e.name) map.set(e.name, dir);
      }
      return map;
    },
  };
}
