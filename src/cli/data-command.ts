/**
 * `reptile data omniglot --out DIR [--url-base URL] [--sha256]`: download the Omniglot archives,
 * resuming partial downloads, skipping complete ones, and verify their layout. Usage errors
 * (UsageError, commander errors) exit 2; a failed download or an incomplete archive is one
 * `error: ...` line and exit code 1 (the caller's generic handler).
 */
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { UsageError } from './errors.js';
import {
  downloadOmniglot,
  OMNIGLOT_ARCHIVES,
  OMNIGLOT_URL_BASE,
  OMNIGLOT_URL_BASE_ENV,
  resolveOmniglotUrlBase,
  type DownloadStart,
  type OmniglotDownloadOptions,
} from '../io/download.js';

export const DATASETS = ['omniglot'] as const;

export interface DataCommandFlags {
  out: string;
  urlBase?: string;
  sha256?: boolean;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * Download progress: a bar (MB, MB/s, ETA) on a terminal; otherwise a line when a transfer
 * starts, every 10 s while it runs, and when it ends.
 */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): NonNullable<OmniglotDownloadOptions['progress']> {
  return (file: string, start: DownloadStart) => {
    const began = performance.now();
    const speed = (bytesOnDisk: number) => (bytesOnDisk - start.resumedFrom) / 1e6 / Math.max(1e-3, (performance.now() - began) / 1000);
    const of = start.total !== undefined ? ` of ${mb(start.total)}` : '';
    if (!stream.isTTY || start.total === undefined) {
      stream.write(`${file}: downloading from ${start.url}${start.total !== undefined ? ` (${mb(start.total)} MB)` : ''}\n`);
      let lastLine = began;
      let last = start.resumedFrom;
      return {
        update(bytesOnDisk) {
          last = bytesOnDisk;
          const now = performance.now();
          if (now - lastLine < 10_000) return;
          lastLine = now;
          stream.write(`${file}: ${mb(bytesOnDisk)}${of} MB (${speed(bytesOnDisk).toFixed(1)} MB/s)\n`);
        },
        stop() {
          stream.write(`${file}: ${mb(last)}${of} MB in ${((performance.now() - began) / 1000).toFixed(1)} s\n`);
        },
      };
    }
    const bar = new cliProgress.SingleBar(
      { format: `${file} [{bar}] {percentage}% | {mb}/{totalMb} MB | {speed} MB/s | ETA {eta_formatted}`, hideCursor: false, stream, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(start.total, start.resumedFrom, { mb: mb(start.resumedFrom), totalMb: mb(start.total), speed: '0.0' });
    let lastRedraw = 0;
    let stopped = false;
    return {
      update(bytesOnDisk) {
        const now = performance.now();
        if (now - lastRedraw < 100 && bytesOnDisk < (start.total ?? Infinity)) return;
        lastRedraw = now;
        bar.update(bytesOnDisk, { mb: mb(bytesOnDisk), speed: speed(bytesOnDisk).toFixed(1) });
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.stop();
      },
    };
  };
}

/** Runs `reptile data <dataset>` with parsed flags; returns after printing the summary. */
export async function runDataCommand(
  dataset: string,
  flags: DataCommandFlags,
  io: { log?: (line: string) => void; env?: NodeJS.ProcessEnv; progressStream?: NodeJS.WriteStream } = {},
): Promise<void> {
  if (!(DATASETS as readonly string[]).includes(dataset)) throw new UsageError(`unknown dataset '${dataset}'; allowed: ${DATASETS.join(', ')}`);
  const log = io.log ?? ((line: string) => console.log(line));
  let urlBase: string;
  try {
    urlBase = resolveOmniglotUrlBase(flags.urlBase, io.env ?? process.env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const out = flags.out;
  if (!out) throw new UsageError('--out: expected a directory to download into');
  try {
    if (!(await stat(out)).isDirectory()) throw new UsageError(`--out ${out}: exists and is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const results = await downloadOmniglot({
    outDir: out,
    urlBase,
    sha256: flags.sha256 === true,
    log,
    progress: downloadProgress(io.progressStream ?? process.stderr),
  });
  for (const r of results) {
    if (r.sha256 === undefined) continue;
    const note = r.checksum === 'match' ? 'matches SHA256SUMS' : r.checksum === 'unlisted' ? 'not listed in SHA256SUMS, not checked' : `no SHA256SUMS in ${out}, not checked`;
    log(`${r.sha256}  ${r.file} (${note})`);
  }
  const characters = results.reduce((n, r) => n + r.layout.characters, 0);
  const drawings = results.reduce((n, r) => n + r.layout.drawings, 0);
  const shown = out.replace(/\/+$/, '') || out;
  log(`Omniglot is complete in ${shown}/ (${results.map((r) => r.file).join(', ')}: ${characters} characters, ${drawings} drawings); pass --data ${shown}`);
}

/** Appends what is allowed to commander's one-line errors for this command. */
function outputErrorWithHint(str: string, write: (s: string) => void): void {
  const line = str.trimEnd();
  if (line.startsWith('error: unknown option')) write(`${line}; run 'reptile data --help' for the allowed flags\n`);
  else if (line.startsWith("error: missing required argument 'dataset'")) write(`${line}; allowed: ${DATASETS.join(', ')}\n`);
  else if (line.startsWith('error: required option')) write(`${line}; e.g. reptile data omniglot --out data/omniglot\n`);
  else write(str);
}

/** Adds `reptile data <dataset> --out DIR [--url-base URL] [--sha256]` to the program. */
export function registerDataCommand(program: Command): void {
  program
    .command('data')
    .description(`download a dataset and verify it: omniglot (${OMNIGLOT_ARCHIVES.map((a) => a.file).join(', ')}); partial downloads are resumed, complete ones skipped`)
    .argument('<dataset>', `the dataset: ${DATASETS.join(', ')}`)
    .requiredOption('--out <dir>', 'directory to download into (pass it to train as --data)')
    .option('--url-base <url>', `where the archives are (default: $${OMNIGLOT_URL_BASE_ENV} if set, else ${OMNIGLOT_URL_BASE})`)
    .option('--sha256', 'print each archive\'s SHA-256 and check it against a SHA256SUMS file in --out, if there is one', false)
    .showSuggestionAfterError(false)
    .configureOutput({ outputError: outputErrorWithHint })
    .exitOverride()
    .action(async (dataset: string, flags: DataCommandFlags) => {
      await runDataCommand(dataset, flags);
    });
}
