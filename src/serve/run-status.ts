/**
 * What the page and the dashboard are told about a run directory, read defensively: a run that
 * is being written (no summary yet, a metrics line cut in half) or is damaged (invalid JSON) is
 * described with an error message, never thrown at the server.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FILES } from '../io/run-dir.js';

export interface RunStatus {
  name: string;
  /** 'running': config but no summary; 'finished': summary.json; 'error': unreadable. */
  state: 'running' | 'finished' | 'error';
  error?: string;
  config?: Record<string, unknown>;
  summary?: Record<string, unknown>;
  metrics: Record<string, unknown>[];
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readObject(dir: string, file: string): Promise<Record<string, unknown> | undefined> {
  const text = await readText(join(dir, file));
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * The complete lines of metrics.jsonl as objects. A last line without its newline is still being
 * written and is left for later; a broken complete line is an error.
 */
export function parseMetrics(text: string): Record<string, unknown>[] {
  const end = text.lastIndexOf('\n');
  const out: Record<string, unknown>[] = [];
  for (const [i, line] of text.slice(0, end + 1).split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      throw new Error(`${RUN_FILES.metrics} line ${i + 1} is not valid JSON`);
    }
  }
  return out;
}

export async function readRunStatus(name: string, dir: string): Promise<RunStatus> {
  try {
    const config = await readObject(dir, RUN_FILES.config);
    if (!config) return { name, state: 'error', error: `no ${RUN_FILES.config}: not a run directory (yet)`, metrics: [] };
    const summary = await readObject(dir, RUN_FILES.summary);
    const metrics = parseMetrics((await readText(join(dir, RUN_FILES.metrics))) ?? '');
    return { name, state: summary ? 'finished' : 'running', config, ...(summary ? { summary } : {}), metrics };
  } catch (error) {
    return { name, state: 'error', error: (error as Error).message, metrics: [] };
  }
}
