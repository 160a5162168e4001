/**
 * Dataset downloads that survive bad networks and never pass off a broken file as a good one.
 *
 * A file is fetched into `<name>.part`; a rerun resumes it with an HTTP Range request (206), or
 * starts over cleanly when the server ignores the range (200). `<name>.part.json` remembers the
 * response's ETag / Last-Modified, sent back as If-Range so that a file changed on the server in
 * between is downloaded afresh rather than spliced. The `.part` becomes `<name>` only
 * once it has the announced length and passes a check (for Omniglot: the zip's central directory
 * lists every alphabet, character and drawing, and optionally a SHA-256 from SHA256SUMS), so a file
 * under its final name is always complete. Errors are single lines that say what failed and what
 * to do about it.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';

/** Where the official Omniglot archives live (github.com/brendenlake/omniglot). */
export const OMNIGLOT_URL_BASE = 'https://raw.githubusercontent.com/brendenlake/omniglot/master/python/';
/** Environment variable that overrides {@link OMNIGLOT_URL_BASE} (a mirror, or a local test server). */
export const OMNIGLOT_URL_BASE_ENV = 'REPTILE_OMNIGLOT_URL_BASE';

export type OmniglotSplit = 'images_background' | 'images_evaluation';

export interface OmniglotArchiveSpec {
  split: OmniglotSplit;
  /** File name of the archive, `<split>.zip`. */
  file: string;
  /** Alphabet folder name -> number of characters (`character01` .. `characterNN`). */
  alphabets: Readonly<Record<string, number>>;
  characters: number;
  /** Drawings (PNG files) per character. */
  drawingsPerCharacter: number;
  drawings: number;
}

function spec(split: OmniglotSplit, alphabets: Record<string, number>): OmniglotArchiveSpec {
  const characters = Object.values(alphabets).reduce((a, b) => a + b, 0);
  return { split, file: `${split}.zip`, alphabets, characters, drawingsPerCharacter: 20, drawings: 20 * characters };
}

/** The two archives of Omniglot (Lake et al. 2015) and their layout: 964 + 659 characters, 20 drawings each. */
export const OMNIGLOT_ARCHIVES: readonly OmniglotArchiveSpec[] = [
  spec('images_background', {
    Alphabet_of_the_Magi: 20, 'Anglo-Saxon_Futhorc': 29, Arcadian: 26, Armenian: 41, 'Asomtavruli_(Georgian)': 40,
    Balinese: 24, Bengali: 46, 'Blackfoot_(Canadian_Aboriginal_Syllabics)': 14, Braille: 26, 'Burmese_(Myanmar)': 34,
    Cyrillic: 33, Early_Aramaic: 22, Futurama: 26, Grantha: 43, Greek: 24, Gujarati: 48, Hebrew: 22,
    'Inuktitut_(Canadian_Aboriginal_Syllabics)': 16, 'Japanese_(hiragana)': 52, 'Japanese_(katakana)': 47, Korean: 40,
    Latin: 26, 'Malay_(Jawi_-_Arabic)': 40, 'Mkhedruli_(Georgian)': 41, N_Ko: 33,
    'Ojibwe_(Canadian_Aboriginal_Syllabics)': 14, Sanskrit: 42, 'Syriac_(Estrangelo)': 23, Tagalog: 17, Tifinagh: 55,
  }),
  spec('images_evaluation', {
    Angelic: 20, Atemayar_Qelisayer: 26, Atlantean: 26, 'Aurek-Besh': 26, Avesta: 26, Ge_ez: 26, Glagolitic: 45,
    Gurmukhi: 45, Kannada: 41, Keble: 26, Malayalam: 47, Manipuri: 40, Mongolian: 30,
    'Old_Church_Slavonic_(Cyrillic)': 45, Oriya: 46, Sylheti: 28, 'Syriac_(Serto)': 23, Tengwar: 25, Tibetan: 42, ULOG: 26,
  }),
];

export function omniglotArchive(split: OmniglotSplit): OmniglotArchiveSpec {
  const found = OMNIGLOT_ARCHIVES.find((a) => a.split === split);
  if (!found) throw new Error(`unknown Omniglot split '${split}'; allowed: ${OMNIGLOT_ARCHIVES.map((a) => a.split).join(', ')}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Errors

export type DownloadErrorKind = 'network' | 'http' | 'interrupted' | 'timeout' | 'length';

/** A download that did not complete: the server is unreachable, answered an error, or stopped. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    message: string,
    readonly kind: DownloadErrorKind,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An archive whose contents are not the expected layout (or not a readable zip at all). */
export class LayoutError extends Error {
  override name = 'LayoutError';
  constructor(
    message: string,
    readonly file: string,
    readonly layout?: OmniglotLayout,
  ) {
    super(message);
  }
}

/** A file whose SHA-256 differs from the one SHA256SUMS lists for it. */
export class ChecksumError extends Error {
  override name = 'ChecksumError';
  constructor(
    message: string,
    readonly file: string,
    readonly actual: string,
    readonly expected: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Layout of an Omniglot zip, from its central directory (nothing is inflated)

export interface OmniglotLayout {
  file: string;
  split: OmniglotSplit;
  /** Counted over the expected alphabets and characters only. */
  alphabets: number;
  characters: number;
  drawings: number;
  expected: { alphabets: number; characters: number; drawings: number };
  /** Human-readable problems, most important first; empty when complete. */
  problems: string[];
  complete: boolean;
}

const LIST_LIMIT = 3;

function listSome(items: string[], noun: string): string {
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  return items.length > LIST_LIMIT ? `${shown} and ${items.length - LIST_LIMIT} more ${noun}` : shown;
}

function characterName(i: number): string {
  return `character${String(i).padStart(2, '0')}`;
}

/**
 * Lists a zip's central directory with fflate (its filter sees every entry; returning false
 * inflates nothing) and compares it with the expected layout
 * `<split>/<alphabet>/<characterNN>/*.png`. Throws a {@link LayoutError} if the bytes are not a
 * readable zip; an incomplete layout is reported in `problems`, not thrown.
 */
export function inspectOmniglotZip(bytes: Uint8Array, archive: OmniglotArchiveSpec): OmniglotLayout {
  const entries: { name: string; originalSize: number }[] = [];
  try {
    unzipSync(bytes, {
      filter: (file) => {
        entries.push({ name: file.name, originalSize: file.originalSize });
        return false;
      },
    });
  } catch (error) {
    throw new LayoutError(`${archive.file} is not a readable zip archive (${(error as Error).message})`, archive.file);
  }
  const { split } = archive;
  // alphabet -> character -> drawings
  const found = new Map<string, Map<string, number>>();
  const topLevel = new Set<string>();
  const empty: string[] = [];
  let insideSplit = 0;
  for (const { name, originalSize } of entries) {
    const parts = name.split('/');
    if (parts[0] === '__MACOSX' || parts.some((p) => p.startsWith('.'))) continue;
    if (parts[0] !== split) {
      if (parts[0] !== '') topLevel.add(parts[0] + (parts.length > 1 ? '/' : ''));
      continue;
    }
    insideSplit++;
    if (parts.length !== 4 || !parts[3].toLowerCase().endsWith('.png')) continue;
    const [, alphabet, character] = parts;
    let characters = found.get(alphabet);
    if (!characters) found.set(alphabet, (characters = new Map()));
    characters.set(character, (characters.get(character) ?? 0) + 1);
    if (originalSize === 0) empty.push(name);
  }

  const expected = { alphabets: Object.keys(archive.alphabets).length, characters: archive.characters, drawings: archive.drawings };
  const problems: string[] = [];
  let alphabets = 0;
  let characters = 0;
  let drawings = 0;
  if (insideSplit === 0) {
    const seen = [...topLevel];
    problems.push(`no ${split}/ folder (${seen.length ? `top-level entries: ${listSome(seen, 'entries')}` : 'the archive is empty'})`);
  } else {
    const missingAlphabets: string[] = [];
    const missingCharacters: string[] = [];
    const wrongCounts: string[] = [];
    const unexpected: string[] = [];
    for (const [alphabet, count] of Object.entries(archive.alphabets)) {
      const chars = found.get(alphabet);
      if (!chars) {
        missingAlphabets.push(`${alphabet} (${count} characters)`);
        continue;
      }
      alphabets++;
      for (let i = 1; i <= count; i++) {
        const n = chars.get(characterName(i));
        if (n === undefined) {
          missingCharacters.push(`${alphabet}/${characterName(i)}`);
          continue;
        }
        characters++;
        drawings += n;
        if (n !== archive.drawingsPerCharacter) wrongCounts.push(`${alphabet}/${characterName(i)} has ${n} of ${archive.drawingsPerCharacter}`);
      }
      for (const c of chars.keys()) {
        if (!/^character\d+$/.test(c) || Number(c.slice('character'.length)) > count) unexpected.push(`${alphabet}/${c}`);
      }
    }
    for (const alphabet of found.keys()) if (!(alphabet in archive.alphabets)) unexpected.push(`${alphabet}/`);
    if (missingAlphabets.length) problems.push(`missing alphabet${missingAlphabets.length > 1 ? 's' : ''} ${listSome(missingAlphabets, 'alphabets')}`);
    if (missingCharacters.length) problems.push(`missing ${missingCharacters.length === 1 ? 'character' : `${missingCharacters.length} characters:`} ${listSome(missingCharacters, '')}`.trimEnd());
    if (wrongCounts.length) problems.push(`drawings per character: ${listSome(wrongCounts, 'characters')}`);
    if (empty.length) problems.push(`empty PNG${empty.length > 1 ? 's' : ''}: ${listSome(empty, 'files')}`);
    if (unexpected.length) problems.push(`unexpected ${listSome(unexpected, 'entries')}`);
    if (problems.length === 0 && (characters !== expected.characters || drawings !== expected.drawings)) {
      problems.push(`found ${characters} characters and ${drawings} drawings`);
    }
  }
  return { file: archive.file, split, alphabets, characters, drawings, expected, problems, complete: problems.length === 0 };
}

/** "30 alphabets, 964 characters, 19280 drawings" (with "of N" where short of the expected count). */
export function layoutCounts(layout: OmniglotLayout): string {
  const { expected } = layout;
  const count = (n: number, of: number, noun: string) => (n === of ? `${n} ${noun}` : `${n} of ${of} ${noun}`);
  return [
    count(layout.alphabets, expected.alphabets, 'alphabets'),
    count(layout.characters, expected.characters, 'characters'),
    count(layout.drawings, expected.drawings, 'drawings'),
  ].join(', ');
}

/** One line: which archive, how much of it is there, and what is missing. */
export function describeLayout(layout: OmniglotLayout): string {
  if (layout.complete) return `${layout.file}: ${layoutCounts(layout)}`;
  return `${layout.file} is incomplete (${layoutCounts(layout)}): ${layout.problems.join('; ')}`;
}

/** Throws a {@link LayoutError} unless the bytes are a complete archive of `archive`. */
export function assertOmniglotZip(bytes: Uint8Array, archive: OmniglotArchiveSpec): OmniglotLayout {
  const layout = inspectOmniglotZip(bytes, archive);
  if (!layout.complete) throw new LayoutError(describeLayout(layout), archive.file, layout);
  return layout;
}

/** Reads an Omniglot zip from disk and checks its layout; throws a {@link LayoutError} if incomplete. */
export async function verifyOmniglotArchive(path: string, archive: OmniglotArchiveSpec): Promise<OmniglotLayout> {
  return assertOmniglotZip(await readFile(path), archive);
}

// ---------------------------------------------------------------------------------------------
// Checksums

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parses `sha256sum` output (`<hex>  <name>` or `<hex> *<name>`) into name -> lower-case hex. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\\?([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2].replace(/^\.\//, ''), m[1].toLowerCase());
  }
  return sums;
}

// ---------------------------------------------------------------------------------------------
// Resumable download of one file

export interface DownloadStart {
  url: string;
  /** The whole file's size if the server said it. */
  total: number | undefined;
  /** Bytes already in `.part` that this request continues from (0 for a fresh download). */
  resumedFrom: number;
  /** True if a `.part` existed but had to be discarded (the server ignored the Range request). */
  restarted: boolean;
}

export interface DownloadFileOptions {
  /** Defaults to the global fetch (Node 20's built-in). */
  fetch?: typeof fetch;
  /** Give up if no bytes arrive for this long (including waiting for the response). Default 60 s. */
  idleTimeoutMs?: number;
  /** Checks the complete `.part` before it is renamed; if it throws, the `.part` is deleted. */
  verify?: (partPath: string) => Promise<void>;
  /** Called once the response to the request that is actually used has arrived. */
  onStart?: (start: DownloadStart) => void;
  /** Called as bytes arrive, with the number of bytes of the file now on disk. */
  onData?: (bytesOnDisk: number) => void;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Bytes that were already in `.part` and were kept (0 if the download started from scratch). */
  resumedFrom: number;
  restarted: boolean;
  /** Bytes transferred by this call. */
  transferred: number;
}

function causeOf(error: unknown): { code?: string; message: string } {
  let e = error as { cause?: unknown; code?: string; message?: string; errors?: unknown[] } | undefined;
  // fetch wraps the socket error: TypeError('fetch failed', { cause }).
  while (e && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  if (!e) return { message: String(error) };
  let message = e.message ?? String(e);
  // Several addresses tried (happy eyeballs): an AggregateError with an empty message.
  if (!message && Array.isArray(e.errors) && e.errors.length) message = (e.errors[0] as Error).message ?? '';
  return { code: e.code, message: message || e.code || 'unknown error' };
}

function parseContentRange(value: string | null): { start?: number; end?: number; total?: number } | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    end: m[2] === undefined ? undefined : Number(m[2]),
    total: m[3] === '*' ? undefined : Number(m[3]),
  };
}

function lengthHeader(response: Response): number | undefined {
  const value = response.headers.get('content-length');
  const encoding = response.headers.get('content-encoding');
  // fetch decodes a compressed body: Content-Length would then count the encoded bytes.
  if (value === null || !/^\d+$/.test(value.trim()) || (encoding && encoding.toLowerCase() !== 'identity')) return undefined;
  return Number(value);
}

/** What `<name>.part.json` remembers about the response that `<name>.part` holds. */
interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

async function readPartMeta(path: string): Promise<PartMeta | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as PartMeta;
    return typeof value === 'object' && value !== null && typeof value.url === 'string' ? value : undefined;
  } catch {
    return undefined; // missing or torn: resume without a validator
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Downloads `url` to `dest` through `dest.part`, resuming an existing `.part` with a Range
 * request. `dest` appears only when the file is complete (the length the server announced) and
 * `verify` accepted it. On an interruption the `.part` is kept for the next call to resume.
 */
export async function downloadFile(url: string, dest: string, options: DownloadFileOptions = {}): Promise<DownloadResult> {
  const doFetch = options.fetch ?? fetch;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const part = `${dest}.part`;
  const metaPath = `${part}.json`;
  const host = new URL(url).host;
  await mkdir(dirname(dest), { recursive: true });
  let offset = (await sizeOf(part)) ?? 0;
  let restarted = false;

  const finish = async (bytes: number, resumedFrom: number, transferred: number): Promise<DownloadResult> => {
    if (options.verify) {
      try {
        await options.verify(part);
      } catch (error) {
        await Promise.all([rm(part, { force: true }), rm(metaPath, { force: true })]);
        throw error;
      }
    }
    await rename(part, dest);
    await rm(metaPath, { force: true });
    return { path: dest, bytes, resumedFrom, restarted, transferred };
  };

  // A range request, then (if the range turns out unusable) a plain one; a third is a safety margin.
  for (let attempt = 0; attempt < 3; attempt++) {
    const controller = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, idleTimeoutMs);
    };
    const timeoutError = (bytesOnDisk: number, total: number | undefined) =>
      new DownloadError(
        `no data from ${host} for ${idleTimeoutMs / 1000} s while downloading ${url}` +
          (bytesOnDisk > 0 ? ` (${bytesOnDisk}${total ? ` of ${total}` : ''} bytes kept in ${part}; run again to resume)` : ''),
        'timeout',
        url,
      );

    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    const meta = offset > 0 ? await readPartMeta(metaPath) : undefined;
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      // Only a strong ETag may be used with If-Range; a date is the fallback.
      if (meta?.url === url && meta.etag && !meta.etag.startsWith('W/')) headers['if-range'] = meta.etag;
      else if (meta?.url === url && meta.lastModified) headers['if-range'] = meta.lastModified;
    }
    arm();
    let response: Response;
    try {
      response = await doFetch(url, { headers, signal: controller.signal, redirect: 'follow' });
    } catch (error) {
      clearTimeout(timer);
      if (timedOut) throw timeoutError(offset, undefined);
      const cause = causeOf(error);
      throw new DownloadError(`cannot reach ${host}: ${cause.message}`, 'network', url);
    }

    const discard = async () => {
      clearTimeout(timer);
      await response.body?.cancel().catch(() => {});
    };
    const restart = async () => {
      await discard();
      await rm(part, { force: true });
      await rm(metaPath, { force: true });
      offset = 0;
      restarted = true;
    };

    let total: number | undefined;
    let append: boolean;
    if (response.status === 416 && offset > 0) {
      // Range Not Satisfiable: the .part already has every byte, or is longer than the file.
      const range = parseContentRange(response.headers.get('content-range'));
      await discard();
      if (range?.total !== undefined && range.total === offset) {
        options.onStart?.({ url, total: offset, resumedFrom: offset, restarted });
        options.onData?.(offset);
        return finish(offset, offset, 0);
      }
      await restart();
      continue;
    } else if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      const etag = response.headers.get('etag');
      const changed =
        (meta?.total !== undefined && range?.total !== undefined && meta.total !== range.total) ||
        (meta?.url === url && meta.etag !== undefined && etag !== null && meta.etag !== etag);
      if (!range || range.start !== offset || changed) {
        // A range we did not ask for, or of another version of the file: start over without one.
        await restart();
        continue;
      }
      total = range.total;
      append = offset > 0;
    } else if (response.status === 200) {
      // A full body: either we asked for it, or the server ignored the Range header.
      if (offset > 0) restarted = true;
      offset = 0;
      total = lengthHeader(response);
      append = false;
    } else {
      await discard();
      const reason = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      throw new DownloadError(`HTTP ${reason} from ${url}`, 'http', url, response.status);
    }

    const resumedFrom = offset;
    const next: PartMeta = { url, total };
    const etag = response.headers.get('etag');
    const lastModified = response.headers.get('last-modified');
    if (etag) next.etag = etag;
    if (lastModified) next.lastModified = lastModified;
    await writeFile(metaPath, JSON.stringify(next) + '\n');
    options.onStart?.({ url, total, resumedFrom, restarted });
    const file = await open(part, append ? 'a' : 'w');
    let onDisk = offset;
    try {
      if (!response.body) throw new DownloadError(`empty response body from ${url}`, 'interrupted', url);
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        await file.write(value);
        onDisk += value.byteLength;
        options.onData?.(onDisk);
        if (total !== undefined && onDisk > total) {
          throw new DownloadError(`${url} sent more than the ${total} bytes it announced`, 'length', url);
        }
      }
    } catch (error) {
      clearTimeout(timer);
      await file.close();
      if (error instanceof DownloadError) {
        if (error.kind === 'length') await Promise.all([rm(part, { force: true }), rm(metaPath, { force: true })]);
        throw error;
      }
      if (timedOut) throw timeoutError(onDisk, total);
      throw new DownloadError(
        `the download of ${url} stopped after ${onDisk}${total !== undefined ? ` of ${total}` : ''} bytes (${causeOf(error).message}); ` +
          `${onDisk > 0 ? `the partial file ${part} is kept: ` : ''}run the command again to resume`,
        'interrupted',
        url,
      );
    }
    clearTimeout(timer);
    await file.close();
    if (total !== undefined && onDisk !== total) {
      throw new DownloadError(
        `the download of ${url} ended after ${onDisk} of ${total} bytes; the partial file ${part} is kept: run the command again to resume`,
        'interrupted',
        url,
      );
    }
    return finish(onDisk, resumedFrom, onDisk - resumedFrom);
  }
  throw new DownloadError(`${url}: the server keeps answering range requests with the wrong range; delete ${part} and try again`, 'http', url);
}

// ---------------------------------------------------------------------------------------------
// Omniglot

/** Resolves the URL base: the flag, else $REPTILE_OMNIGLOT_URL_BASE, else the official one. Always ends in '/'. */
export function resolveOmniglotUrlBase(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[OMNIGLOT_URL_BASE_ENV];
  const [value, source] =
    flag !== undefined ? [flag, '--url-base'] : fromEnv !== undefined && fromEnv !== '' ? [fromEnv, OMNIGLOT_URL_BASE_ENV] : [OMNIGLOT_URL_BASE, 'default'];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError(`${source} ${value}: not a URL; expected an http(s) URL such as ${OMNIGLOT_URL_BASE}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`${source} ${value}: expected an http:// or https:// URL, such as ${OMNIGLOT_URL_BASE}`);
  }
  return value.endsWith('/') ? value : `${value}/`;
}

export type ChecksumStatus = 'match' | 'unlisted' | 'no-sums-file';

export interface OmniglotArchiveResult {
  file: string;
  path: string;
  /** 'present': already complete and valid, nothing downloaded. */
  action: 'present' | 'downloaded';
  layout: OmniglotLayout;
  bytes: number;
  download?: DownloadResult;
  sha256?: string;
  checksum?: ChecksumStatus;
}

export interface OmniglotDownloadOptions {
  outDir: string;
  /** Default: {@link OMNIGLOT_URL_BASE}. Archives are fetched from `<urlBase><split>.zip`. */
  urlBase?: string;
  /** Compute each archive's SHA-256 and check it against `SHA256SUMS` in outDir if that lists it. */
  sha256?: boolean;
  /** Default: both archives. */
  archives?: readonly OmniglotArchiveSpec[];
  fetch?: typeof fetch;
  idleTimeoutMs?: number;
  /** Plain status lines (skipped, resumed, restarted, verified). */
  log?: (line: string) => void;
  /** Per-file progress: called when the transfer starts, then with bytes on disk, then done. */
  progress?: (file: string, start: DownloadStart) => { update(bytesOnDisk: number): void; stop(): void };
}

/**
 * Downloads the Omniglot archives into `outDir` (resuming partial downloads), skipping those
 * already complete, and verifies each one's layout (and checksum, if asked). Throws
 * {@link DownloadError}, {@link LayoutError} or {@link ChecksumError} with a one-line message.
 */
export async function downloadOmniglot(options: OmniglotDownloadOptions): Promise<OmniglotArchiveResult[]> {
  const { outDir } = options;
  const urlBase = options.urlBase === undefined ? OMNIGLOT_URL_BASE : options.urlBase.endsWith('/') ? options.urlBase : `${options.urlBase}/`;
  const archives = options.archives ?? OMNIGLOT_ARCHIVES;
  const log = options.log ?? (() => {});
  await mkdir(outDir, { recursive: true });

  let sums: Map<string, string> | undefined;
  if (options.sha256) {
    try {
      sums = parseSha256Sums(await readFile(join(outDir, 'SHA256SUMS'), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  const byHand = (): string =>
    `download ${archives.map((a) => a.file).join(' and ')} by hand from ${urlBase} into ${outDir} and pass --data ${outDir}`;

  /** Layout, then checksum: throws if the file is not what we want. */
  const check = async (path: string, archive: OmniglotArchiveSpec) => {
    const bytes = await readFile(path);
    const layout = assertOmniglotZip(bytes, archive);
    let sha256: string | undefined;
    let checksum: ChecksumStatus | undefined;
    if (options.sha256) {
      sha256 = sha256Hex(bytes);
      const expected = sums?.get(archive.file);
      checksum = !sums ? 'no-sums-file' : expected === undefined ? 'unlisted' : 'match';
      if (expected !== undefined && expected !== sha256) {
        throw new ChecksumError(
          `${archive.file}: SHA-256 ${sha256} differs from ${expected} in ${join(outDir, 'SHA256SUMS')}`,
          archive.file,
          sha256,
          expected,
        );
      }
    }
    return { layout, sha256, checksum, bytes: bytes.byteLength };
  };

  const results: OmniglotArchiveResult[] = [];
  for (const archive of archives) {
    const path = join(outDir, archive.file);
    if ((await sizeOf(path)) !== undefined) {
      try {
        const checked = await check(path, archive);
        results.push({ file: archive.file, path, action: 'present', ...checked });
        log(`${archive.file}: already complete, skipped (${layoutCounts(checked.layout)})`);
        continue;
      } catch (error) {
        if (!(error instanceof LayoutError || error instanceof ChecksumError)) throw error;
        log(`${error.message}; downloading it again`);
        await rm(path, { force: true });
      }
    }

    const url = urlBase + archive.file;
    let checked: Awaited<ReturnType<typeof check>> | undefined;
    let bar: { update(bytesOnDisk: number): void; stop(): void } | undefined;
    let download: DownloadResult;
    try {
      download = await downloadFile(url, path, {
        fetch: options.fetch,
        idleTimeoutMs: options.idleTimeoutMs,
        onStart: (start) => {
          if (start.restarted) log(`${archive.file}: the server did not resume the partial download; starting over`);
          else if (start.resumedFrom > 0) log(`${archive.file}: resuming at ${mb(start.resumedFrom)}${start.total ? ` of ${mb(start.total)}` : ''}`);
          bar = options.progress?.(archive.file, start);
        },
        onData: (n) => bar?.update(n),
        verify: async (part) => {
          bar?.stop();
          bar = undefined;
          checked = await check(part, archive);
        },
      });
    } catch (error) {
      bar?.stop();
      if (error instanceof DownloadError) {
        if (error.kind === 'network') throw new DownloadError(`${error.message}; ${byHand()}`, error.kind, error.url);
        if (error.kind === 'http') {
          const hint = error.status === 404 ? `check --url-base (or ${OMNIGLOT_URL_BASE_ENV}), or ${byHand()}` : byHand();
          throw new DownloadError(`${error.message}; ${hint}`, error.kind, error.url, error.status);
        }
      }
      if (error instanceof LayoutError) {
        throw new LayoutError(`${error.message} (downloaded from ${url}; the download was deleted)`, error.file, error.layout);
      }
      if (error instanceof ChecksumError) {
        throw new ChecksumError(
          `${error.message} (downloaded from ${url}; the download was deleted; to accept it, run without --sha256 or remove its line from SHA256SUMS)`,
          error.file,
          error.actual,
          error.expected,
        );
      }
      throw error;
    }
    if (!checked) throw new Error(`internal: ${archive.file} was not verified`);
    results.push({ file: archive.file, path, action: 'downloaded', download, ...checked });
    log(`${archive.file}: downloaded ${mb(download.bytes)}${download.resumedFrom > 0 ? ` (resumed at ${mb(download.resumedFrom)})` : ''}; ${layoutCounts(checked.layout)}`);
  }
  return results;
}
