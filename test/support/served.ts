/** Starting `reptile serve` / `dashboard` / `train --dashboard` in a test and finding its URL. */
import type { ChildProcess } from 'node:child_process';
import { startCli, type RunCliOptions, type RunningCli } from './cli.js';

/** Resolves with the first match of `pattern` in the child's stdout (rejects if it ends first). */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    const onData = (chunk: string) => {
      seen += chunk;
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`the command ended before printing ${pattern}:\n${seen}`));
    });
  });
}

export interface Served extends RunningCli {
  /** The page's URL as printed (http://127.0.0.1:PORT/...). */
  url: string;
}

/** Starts a command that serves, and waits for its "serving http://..." line. */
export async function startServed(args: string[], options: RunCliOptions = {}): Promise<Served> {
  const cli = startCli(args, options);
  const m = await waitForOutput(cli.child, /serving (http:\/\/\S+)/);
  return { ...cli, url: m[1] };
}
