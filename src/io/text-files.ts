/**
 * Reads the text data sets from disk (Node): `path` is the data set's folder or, for CLINC150,
 * data_full.json itself. Missing or unreadable files are DatasetErrors naming the path.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DatasetError } from '../data/errors.js';
import { parseBanking77, parseClinc150, parseDomains, parseLabelledExamples, type LabelledText, type TextDataset } from '../data/text.js';

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

async function read(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new DatasetError(`${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, file);
  }
}

async function requireFolder(path: string, expected: string): Promise<void> {
  if ((await kind(path)) === undefined) throw new DatasetError(`no such file or directory (expected a folder holding ${expected})`, path);
}

export interface Clinc150Files {
  data: TextDataset;
  /** From domains.json beside data_full.json, when it is there. */
  domains?: Record<string, string[]>;
}

export async function loadClinc150(path: string): Promise<Clinc150Files> {
  await requireFolder(path, 'data_full.json (and domains.json)');
  const isFile = (await kind(path)) === 'file';
  const dataFile = isFile ? path : join(path, 'data_full.json');
  const folder = isFile ? dirname(path) : path;
  if ((await kind(dataFile)) !== 'file') throw new DatasetError(`no data_full.json in ${path} (CLINC150's data/data_full.json)`, path);
  const data = parseClinc150(await read(dataFile), isFile ? basename(dataFile) : dataFile);
  const domainsFile = join(folder, 'domains.json');
  const domains = (await kind(domainsFile)) === 'file' ? parseDomains(await read(domainsFile), domainsFile) : undefined;
  return { data, ...(domains ? { domains } : {}) };
}

export async function loadBanking77(path: string): Promise<TextDataset> {
  await requireFolder(path, 'train.csv and test.csv');
  if ((await kind(path)) !== 'dir') throw new DatasetError('expected the BANKING77 folder (train.csv, test.csv), not a file', path);
  const names = ['train.csv', 'test.csv'];
  const present = [];
  for (const name of names) if ((await kind(join(path, name))) === 'file') present.push(name);
  if (present.length === 0) throw new DatasetError(`no train.csv or test.csv in ${path} (BANKING77's banking_data folder)`, path);
  return parseBanking77(await Promise.all(present.map(async (name) => ({ file: join(path, name), content: await read(join(path, name)) }))));
}

/** A user's labelled examples file (CSV or JSON, see parseLabelledExamples). */
export async function loadLabelledExamples(file: string): Promise<LabelledText[]> {
  return parseLabelledExamples(await read(file), file);
}
