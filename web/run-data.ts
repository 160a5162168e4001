/** Loading a run from the server or a static export (same relative URLs: runs.json, runs/<name>/...). */
import type { RunStatus } from '../src/serve/run-status.js';

/** A run as runs.json lists it (the server's RunStatus without its metrics, which can be long). */
export type RunEntry = Omit<RunStatus, 'metrics'> & { points?: number };

export async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res;
}

export async function fetchJson<T>(url: string): Promise<T> {
  return (await (await fetchOk(url)).json()) as T;
}

export const runUrl = (name: string, file: string) => `runs/${encodeURIComponent(name)}/${file}`;

/** The run named by ?run=, or the first one listed. */
export async function chooseRun(): Promise<RunEntry> {
  const runs = await fetchJson<RunEntry[]>('runs.json');
  const wanted = new URLSearchParams(location.search).get('run');
  const run = wanted ? runs.find((r) => r.name === wanted) : runs[0];
  if (!run) throw new Error(wanted ? `no run named ${wanted}` : 'no runs to show');
  if (run.state === 'error') throw new Error(`${run.name}: ${run.error}`);
  return run;
}

export function showError(error: unknown): void {
  const box = document.getElementById('error')!;
  box.textContent = `Error: ${(error as Error).message ?? String(error)}`;
  box.hidden = false;
}
