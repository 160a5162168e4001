/**
 * Few-shot tasks of a run's held-out Omniglot characters as a user would give them to `reptile
 * adapt`: the test characters of the 'reptile' split (split seed 0), found from the archives'
 * entry names (nothing decoded), their original PNG files written as `examples/<class>/*.png`
 * (the first `support` drawings) and `input/*.png` (the next `queries`), with each input's class.
 * Used by test/cli-adapt-images.test.ts and bench/adapt-images.ts.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { unzipSync } from 'fflate';
import { splitOmniglot } from '../../src/data/splits.js';

export interface HeldOutTask {
  examples: string;
  input: string;
  /** Input file -> its class folder's name. */
  truth: Map<string, string>;
}

export interface HeldOutOptions {
  ways: number;
  support: number;
  queries: number;
  tasks: number;
}

/** Names of the archives' drawings, by character (`<root>/<alphabet>/<character>`), without inflating any. */
function drawingNames(zip: Uint8Array): Map<string, string[]> {
  const out = new Map<string, string[]>();
  unzipSync(zip, {
    filter: (file) => {
      const parts = file.name.split('/');
      if (parts.length === 4 && parts[3].endsWith('.png')) {
        const character = parts.slice(0, 3).join('/');
        out.set(character, [...(out.get(character) ?? []), file.name].sort());
      }
      return false;
    },
  });
  return out;
}

/** Writes `tasks` tasks of `ways` consecutive test characters each under `root` (task0/, task1/, ...). */
export async function writeHeldOutTasks(data: string, root: string, { ways, support, queries, tasks }: HeldOutOptions): Promise<HeldOutTask[]> {
  const zips = ['images_background.zip', 'images_evaluation.zip'].map((f) => new Uint8Array(readFileSync(join(data, f))));
  const names = new Map(zips.flatMap((z) => [...drawingNames(z)]));
  const split = splitOmniglot({ size: 28, characters: [...names.keys()].map((name) => ({ name, count: 0, images: new Uint8Array(0) })) }, { scheme: 'reptile', seed: 0 });
  const characters = split.characters.test.slice(0, ways * tasks);
  if (characters.length < ways * tasks) throw new RangeError(`${tasks} tasks of ${ways} characters need ${ways * tasks} test characters; there are ${split.characters.test.length}`);
  const wanted = new Set(characters.flatMap((c) => names.get(c)!.slice(0, support + queries)));
  const bytes: Record<string, Uint8Array> = {};
  for (const zip of zips) Object.assign(bytes, unzipSync(zip, { filter: (f) => wanted.has(f.name) }));
  const out: HeldOutTask[] = [];
  for (let t = 0; t < tasks; t++) {
    const dir = join(root, `task${t}`);
    const task: HeldOutTask = { examples: join(dir, 'examples'), input: join(dir, 'input'), truth: new Map() };
    await mkdir(task.input, { recursive: true });
    for (const character of characters.slice(t * ways, (t + 1) * ways)) {
      const label = character.split('/').slice(1).join('-');
      await mkdir(join(task.examples, label), { recursive: true });
      for (const [i, name] of names.get(character)!.slice(0, support + queries).entries()) {
        const file = i < support ? join(task.examples, label, basename(name)) : join(task.input, basename(name));
        await writeFile(file, bytes[name]);
        if (i >= support) task.truth.set(file, label);
      }
    }
    out.push(task);
  }
  return out;
}

/** The fraction of `reptile adapt`'s `label<TAB>probability<TAB>path` lines whose label is the input's class. */
export function accuracyOf(stdout: string, task: HeldOutTask): { right: number; total: number } {
  let right = 0;
  let total = 0;
  for (const line of stdout.trimEnd().split('\n')) {
    const [label, , path] = line.split('\t');
    right += label === task.truth.get(path) ? 1 : 0;
    total++;
  }
  return { right, total };
}
