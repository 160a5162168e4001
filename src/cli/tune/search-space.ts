/**
 * The search space of `reptile tune`, read from a JSON or YAML file (YAML 1.2 is a superset of
 * JSON, so one parser, the `yaml` package, reads both):
 *
 *   search: random          # or grid (--search overrides)
 *   trials: 12              # random search: points to try (--trials overrides)
 *   seed: 0                 # random search: seed of the draws (--seed overrides)
 *   base: { metaIters: 2000 }                 # fixed settings, keys as in config.json
 *   space:
 *     learningRate: [0.005, 0.01, 0.02, 0.04] # a list: one of these
 *     metaStep: { min: 0.03, max: 1, log: true }   # a range (random search only)
 *     innerIters: { min: 1, max: 10, integer: true }
 *
 * Grid search takes every combination of the lists; random search draws each setting of each
 * point independently (lists uniformly, ranges uniformly or log-uniformly) from one seeded Rng.
 */
import { parse } from 'yaml';
import { Rng } from '../../core/rng.js';
import { UsageError } from '../errors.js';

export type SearchKind = 'grid' | 'random';
export const SEARCH_KINDS: readonly SearchKind[] = ['grid', 'random'];

export interface Range {
  min: number;
  max: number;
  log: boolean;
  integer: boolean;
}

export type Dimension = { values: unknown[] } | { range: Range };

export interface SearchSpace {
  search?: SearchKind;
  trials?: number;
  seed?: number;
  base: Record<string, unknown>;
  space: Record<string, Dimension>;
}

const TOP_KEYS = ['search', 'trials', 'seed', 'base', 'space'];
/** Settings tune itself decides: what the trials are scored on, and their seeds (--seeds). */
const RESERVED = ['evalSplit', 'seed', 'out', 'force'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function dimension(file: string, key: string, value: unknown): Dimension {
  const where = `${file}: space.${key}`;
  if (Array.isArray(value)) {
    if (value.length === 0) throw new UsageError(`${where}: an empty list; give at least one value`);
    return { values: value };
  }
  if (isObject(value)) {
    const unknown = Object.keys(value).find((k) => !['min', 'max', 'log', 'integer'].includes(k));
    if (unknown !== undefined) throw new UsageError(`${where}: unknown key '${unknown}' in a range; allowed: min, max, log, integer`);
    const { min, max } = value;
    const log = value.log === true;
    const integer = value.integer === true;
    if (typeof min !== 'number' || typeof max !== 'number' || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      throw new UsageError(`${where}: a range needs numbers min <= max, got ${JSON.stringify(value)}`);
    }
    if (log && min <= 0) throw new UsageError(`${where}: a log range needs min > 0, got ${min}`);
    return { range: { min, max, log, integer } };
  }
  throw new UsageError(`${where}: expected a list of values or a range {min, max, log?, integer?}, got ${JSON.stringify(value)}`);
}

/** Parses and checks the file's text (`file` names it in messages). */
export function parseSearchSpace(text: string, file: string): SearchSpace {
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new UsageError(`--space ${file}: not valid JSON or YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (!isObject(value)) throw new UsageError(`--space ${file}: expected a mapping with 'space' (and optionally ${TOP_KEYS.filter((k) => k !== 'space').join(', ')})`);
  const unknown = Object.keys(value).find((k) => !TOP_KEYS.includes(k));
  if (unknown !== undefined) throw new UsageError(`--space ${file}: unknown key '${unknown}'; allowed: ${TOP_KEYS.join(', ')}`);
  if (value.search !== undefined && !SEARCH_KINDS.includes(value.search as SearchKind)) throw new UsageError(`--space ${file}: search '${String(value.search)}'; allowed: ${SEARCH_KINDS.join(', ')}`);
  for (const key of ['trials', 'seed'] as const) {
    const n = value[key];
    if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < (key === 'trials' ? 1 : 0))) throw new UsageError(`--space ${file}: ${key} must be an integer >= ${key === 'trials' ? 1 : 0}, got ${JSON.stringify(n)}`);
  }
  const base = value.base ?? {};
  if (!isObject(base)) throw new UsageError(`--space ${file}: base must be a mapping of settings`);
  if (!isObject(value.space) || Object.keys(value.space).length === 0) throw new UsageError(`--space ${file}: 'space' must map at least one setting to a list or a range`);
  for (const key of [...Object.keys(base), ...Object.keys(value.space)]) {
    if (RESERVED.includes(key)) throw new UsageError(`--space ${file}: '${key}' is set by reptile tune (trials are scored on validation tasks, seeds come from --seeds)`);
  }
  const twice = Object.keys(value.space).find((k) => k in base);
  if (twice !== undefined) throw new UsageError(`--space ${file}: '${twice}' is both in base and in space`);
  return {
    ...(value.search !== undefined ? { search: value.search as SearchKind } : {}),
    ...(value.trials !== undefined ? { trials: value.trials as number } : {}),
    ...(value.seed !== undefined ? { seed: value.seed as number } : {}),
    base,
    space: Object.fromEntries(Object.entries(value.space).map(([k, v]) => [k, dimension(file, k, v)])),
  };
}

/** Every combination of the lists, the first setting varying slowest. */
export function gridPoints(space: SearchSpace, file: string): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [key, dim] of Object.entries(space.space)) {
    if (!('values' in dim)) throw new UsageError(`--space ${file}: space.${key} is a range, which grid search cannot enumerate; give a list, or use --search random`);
    points = points.flatMap((p) => dim.values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

function draw(range: Range, rng: Rng): number {
  const u = rng.float();
  const x = range.log ? Math.exp(Math.log(range.min) + u * (Math.log(range.max) - Math.log(range.min))) : range.min + u * (range.max - range.min);
  if (range.integer) return Math.min(Math.floor(range.max), Math.max(Math.ceil(range.min), Math.round(x)));
  // Six significant digits: the value is recorded and reused as a flag value.
  return Number(x.toPrecision(6));
}

/** `trials` points drawn from one Rng seeded with `seed`: the same seed, the same points. */
export function randomPoints(space: SearchSpace, trials: number, seed: number): Record<string, unknown>[] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: trials }, () =>
    Object.fromEntries(Object.entries(space.space).map(([key, dim]) => [key, 'values' in dim ? dim.values[rng.int(dim.values.length)] : draw(dim.range, rng)])),
  );
}
