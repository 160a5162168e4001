/**
 * Which files of a run directory the server hands out, from the URL path after /runs/<name>/.
 * Only the files a run is made of (not checkpoints, not anything a user put beside them), named
 * by an allowlist, after one percent-decoding: '..', '.', empty segments, backslashes and NUL
 * never reach the file system, and the resolved real path must lie inside the run directory
 * (a symlink out of it is refused).
 */
import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';

const ALLOWED = /^(config\.json|summary\.json|metrics\.jsonl|model\/model\.json|model\/weights\.bin|charts\/[A-Za-z0-9_-][A-Za-z0-9._-]*\.(svg|png))$/;

/** The decoded relative path, or undefined if the URL path is not one of a run's files. */
export function runFilePath(encoded: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  if (path.includes('\0') || path.includes('\\')) return undefined;
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return ALLOWED.test(path) ? path : undefined;
}

/** The real path of `relative` inside `dir`, or undefined if it resolves outside (or is missing). */
export async function insideDir(dir: string, relative: string): Promise<string | undefined> {
  try {
    const root = await realpath(dir);
    const file = await realpath(join(root, relative));
    return file.startsWith(root + sep) ? file : undefined;
  } catch {
    return undefined;
  }
}
