/**
 * File writes that never leave a half-written file behind: write to a temporary name in the
 * same directory, then rename over the target (atomic on POSIX file systems).
 */
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

let writes = 0;

/** The temporary name a write to `path` goes through (unique per process and write). */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${writes++}.tmp`);
}

/** Removes temporary files that writes to `path` left behind when their process was killed. */
export async function removeStaleTemporaries(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix) && n.endsWith('.tmp')).map((n) => rm(join(dirname(path), n), { force: true })));
}

export interface AtomicWriteOptions {
  /** Called when the temporary file is written, before it is renamed over `path` (tests stop a run there). */
  beforeRename?: () => void | Promise<void>;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, { beforeRename }: AtomicWriteOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporaryName(path);
  try {
    await writeFile(tmp, data);
    await beforeRename?.();
    await rename(tmp, path);
  } catch (error) {
    // A failing clean-up must not hide why the write failed.
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Appends one JSON object as a line (metrics.jsonl): earlier lines are never rewritten. */
export async function appendJsonLine(path: string, value: unknown): Promise<void> {
  await appendFile(path, JSON.stringify(value) + '\n');
}

/**
 * The JSON objects of a JSON Lines file, up to the first line that does not parse (a line cut by
 * a kill: everything after it is newer than any checkpoint anyway); none if the file is missing.
 */
export async function readJsonLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      break;
    }
  }
  return out;
}
