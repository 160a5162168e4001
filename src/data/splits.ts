/**
 * Omniglot's few-shot splits (browser-safe).
 *
 * Both archives' characters (1623) are merged in name order and shuffled with a fixed split seed
 * (default 0, our Rng, so the split is the same in Node and the browser and never depends on the
 * run's seed). Then:
 * - 'reptile' (Nichol et al. 2018): the first 1200 characters train, each augmented with
 *   rotations by 0/90/180/270 degrees as four separate classes (4800 classes, rotated on the
 *   fly, exact); the remaining 423 test.
 * - 'maml' (Finn et al. 2017): the first 1100 train, the next 100 validate, the last 423 test.
 *   Rotation augmentation is off by default here (`augment: true` turns it on for training).
 * With the same seed both schemes share the same 423 test characters (Reptile's training
 * characters are MAML's training plus validation characters).
 */
import { Rng } from '../core/rng.js';
import { DatasetError } from './errors.js';
import { ROTATIONS, storedClassSet, type ImageClassSet, type Rotation } from './image-class.js';
import type { OmniglotCharacter, OmniglotData } from './omniglot.js';

export type OmniglotSplitScheme = 'reptile' | 'maml';
export const OMNIGLOT_SPLIT_SCHEMES: readonly OmniglotSplitScheme[] = ['reptile', 'maml'];

/** Characters per part for each scheme; test takes the rest (423 of 1623). */
export const OMNIGLOT_SPLIT_SIZES: Readonly<Record<OmniglotSplitScheme, { train: number; validation: number; augment: boolean }>> = {
  reptile: { train: 1200, validation: 0, augment: true },
  maml: { train: 1100, validation: 100, augment: false },
};

export const DEFAULT_SPLIT_SEED = 0;

export interface OmniglotSplitOptions {
  scheme?: OmniglotSplitScheme;
  /** Seed of the split shuffle (default 0), independent of the run's seed. */
  seed?: number;
  /** Rotation-augment the training characters (default: true for 'reptile', false for 'maml'). */
  augment?: boolean;
  /** Override the scheme's number of training / validation characters (small data sets, tests). */
  train?: number;
  validation?: number;
}

export interface OmniglotSplits {
  scheme: OmniglotSplitScheme;
  seed: number;
  augment: boolean;
  /** Training classes: characters x rotations when augmented (character-major: c@0, c@90, ...). */
  train: ImageClassSet;
  /** Empty for 'reptile'. */
  validation: ImageClassSet;
  test: ImageClassSet;
  /** The character names of each part, in split order (before augmentation). */
  characters: { train: string[]; validation: string[]; test: string[] };
}

/** Splits Omniglot's characters (see the module comment). */
export function splitOmniglot(data: OmniglotData, options: OmniglotSplitOptions = {}): OmniglotSplits {
  const scheme = options.scheme ?? 'reptile';
  const sizes = OMNIGLOT_SPLIT_SIZES[scheme];
  if (!sizes) throw new RangeError(`unknown split scheme '${String(scheme)}'; allowed: ${OMNIGLOT_SPLIT_SCHEMES.join(', ')}`);
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;
  const augment = options.augment ?? sizes.augment;
  const nTrain = options.train ?? sizes.train;
  const nValidation = options.validation ?? sizes.validation;
  const total = data.characters.length;
  for (const [what, n] of [['train', nTrain], ['validation', nValidation]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
  }
  if (nTrain + nValidation >= total) {
    throw new DatasetError(
      `the '${scheme}' split needs more than ${nTrain} + ${nValidation} characters, but the data has ${total}; both archives (1623 characters) are expected`,
    );
  }
  const sorted = [...data.characters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].name === sorted[i - 1].name) throw new DatasetError(`character ${sorted[i].name} appears twice`, sorted[i].name);
  }
  const shuffled = Rng.fromSeed(seed).shuffle(sorted);
  const train = shuffled.slice(0, nTrain);
  const validation = shuffled.slice(nTrain, nTrain + nValidation);
  const test = shuffled.slice(nTrain + nValidation);
  const set = (characters: OmniglotCharacter[], rotations: readonly Rotation[]) => storedClassSet(characters, data.size, 1, rotations);
  const names = (characters: OmniglotCharacter[]) => characters.map((c) => c.name);
  return {
    scheme,
    seed,
    augment,
    train: set(train, augment ? ROTATIONS : [0]),
    validation: set(validation, [0]),
    test: set(test, [0]),
    characters: { train: names(train), validation: names(validation), test: names(test) },
  };
}
