/**
 * A user's own images from disk (Node only), for `reptile adapt` on an image run: labelled
 * examples as `<dir>/<class>/<image>` and images to classify (a file, a folder searched
 * recursively, or a list of paths). Every image is decoded (PNG or JPEG, told by its bytes) and
 * preprocessed by src/data/image.ts with the options given, which the caller takes from the
 * run's training data, so the model sees the user's pictures exactly as it saw its training set.
 * Errors are one-line DatasetErrors naming the folder or file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, messageOf } from '../data/errors.js';
import { preprocessImage, type PreprocessOptions } from '../data/image.js';
import { IMAGE_EXTENSIONS } from '../data/image-folder.js';
import type { StoredClass } from '../data/image-class.js';
import { listFolderFiles } from './dataset-cache.js';

const isImageName = (name: string) => IMAGE_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext));
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const ALLOWED = IMAGE_EXTENSIONS.map((e) => `*${e}`).join('|');

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The file's bytes preprocessed; an unreadable or undecodable file is an error naming it. */
async function readImage(path: string, options: PreprocessOptions): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new DatasetError(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`, path);
  }
  return preprocessImage(bytes, path, options);
}

/** Preprocessed images of `paths`, one after another (size*size*channels bytes each). */
export async function readImages(paths: readonly string[], options: PreprocessOptions, channels: number): Promise<Uint8Array> {
  const bytes = options.size * options.size * channels;
  const out = new Uint8Array(paths.length * bytes);
  for (let i = 0; i < paths.length; i++) out.set(await readImage(paths[i], options), i * bytes);
  return out;
}

/**
 * The classes of `<dir>/<class>/<image>`: one per sub-folder (hidden ones skipped), sorted by
 * name, each with its images sorted by file name. Files directly in `dir` are skipped (a README);
 * an empty class folder, or a file in one that is not an image, is an error.
 */
export async function readExampleClasses(dir: string, options: PreprocessOptions, channels: number): Promise<StoredClass[]> {
  if (!(await isDirectory(dir))) throw new DatasetError(`${dir}: no such directory; expected ${dir}/<class>/${ALLOWED}`, dir);
  const entries = await readdir(dir, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) if (!e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(join(dir, e.name)))))) names.push(e.name);
  const classes: StoredClass[] = [];
  for (const name of names.sort(byCodeUnits)) {
    const folder = join(dir, name);
    const files = await listFolderFiles(folder);
    const odd = files.find((f) => f.includes('/') || !isImageName(f));
    if (odd !== undefined) throw new DatasetError(`${join(folder, odd)}: not an image file of a class; allowed: ${dir}/<class>/${ALLOWED}`, folder);
    if (files.length === 0) throw new DatasetError(`${folder}: empty class folder; give each class at least one image (${ALLOWED})`, folder);
    const paths = files.map((f) => join(folder, f));
    classes.push({ name, count: paths.length, images: await readImages(paths, options, channels) });
  }
  return classes;
}

/** The images at `path`: the file itself, or every image under the folder (recursively, sorted, hidden ones skipped). */
export async function listInputImages(path: string): Promise<string[]> {
  if (!(await isDirectory(path))) return [path];
  return (await listFolderFiles(path)).filter(isImageName).map((f) => join(path, f));
}
