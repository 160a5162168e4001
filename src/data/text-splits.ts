/**
 * Class splits of a text data set (browser-safe): meta-training, validation and test intents,
 * disjoint, fixed by a split seed (our Rng, independent of the run's seed).
 * - 'intents': the intents, in name order, shuffled; the first 60% train, the next 20% validate,
 *   the rest test (CLINC150: 90 / 30 / 30; BANKING77: 46 / 15 / 16).
 * - 'domains' (CLINC150, with domains.json): the domains shuffled and cut the same way (6 / 2 / 2
 *   of its 10 domains = 90 / 30 / 30 intents): test intents come from domains never seen in training.
 * - 'all': every intent is a test intent (evaluating a model trained on another data set).
 */
import { Rng } from '../core/rng.js';
import { DatasetError } from './errors.js';
import type { TextClass, TextDataset } from './text.js';

export const TEXT_SPLIT_SCHEMES = ['intents', 'domains', 'all'] as const;
export type TextSplitScheme = (typeof TEXT_SPLIT_SCHEMES)[number];

export interface TextSplits {
  scheme: TextSplitScheme;
  seed: number;
  train: TextClass[];
  validation: TextClass[];
  test: TextClass[];
}

/** Cuts a shuffled list into 60% / 20% / rest. */
function cut<T>(items: T[]): [T[], T[], T[]] {
  const train = Math.round(0.6 * items.length);
  const validation = Math.round(0.2 * items.length);
  return [items.slice(0, train), items.slice(train, train + validation), items.slice(train + validation)];
}

export function splitTextClasses(data: TextDataset, options: { scheme: TextSplitScheme; seed: number; domains?: Record<string, string[]> }): TextSplits {
  const { scheme, seed } = options;
  const byName = new Map(data.classes.map((c) => [c.name, c]));
  if (scheme === 'all') return { scheme, seed, train: [], validation: [], test: [...data.classes] };
  const rng = Rng.fromSeed(seed);
  if (scheme === 'intents') {
    const [train, validation, test] = cut(rng.shuffle([...data.classes]));
    return { scheme, seed, train, validation, test };
  }
  const domains = options.domains;
  if (!domains) throw new DatasetError(`${data.name}: the 'domains' split needs a domains file (CLINC150's domains.json)`);
  const assigned = new Set<string>();
  for (const [domain, intents] of Object.entries(domains)) {
    for (const intent of intents) {
      if (!byName.has(intent)) throw new DatasetError(`domains.json: domain '${domain}' lists intent '${intent}', which ${data.name} does not have`);
      if (assigned.has(intent)) throw new DatasetError(`domains.json: intent '${intent}' is in more than one domain`);
      assigned.add(intent);
    }
  }
  const unassigned = data.classes.filter((c) => !assigned.has(c.name));
  if (unassigned.length > 0) throw new DatasetError(`domains.json: intent '${unassigned[0].name}' is in no domain`);
  const parts = cut(rng.shuffle(Object.keys(domains).sort()));
  const [train, validation, test] = parts.map((names) => names.flatMap((d) => [...domains[d]].sort().map((i) => byName.get(i)!)));
  return { scheme, seed, train, validation, test };
}

/** The split as config.json records it: intent names per part. */
export function describeTextSplits(splits: TextSplits): Record<string, unknown> {
  const names = (classes: TextClass[]) => classes.map((c) => c.name);
  return { scheme: splits.scheme, seed: splits.seed, train: names(splits.train), validation: names(splits.validation), test: names(splits.test) };
}
