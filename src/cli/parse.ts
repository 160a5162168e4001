/**
 * Flag value parsers: each rejects a bad value with a message naming what is allowed, which
 * commander turns into one error line.
 */
import { InvalidArgumentError } from 'commander';
import { formatParamScales, parseParamScales } from '../nn/param-scales.js';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer in [${min}, ${max}]`);
    }
    return n;
  };
}

export function real(min: number, max = Infinity, { minExclusive = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    const aboveMin = minExclusive ? n > min : n >= min;
    if (value.trim() === '' || !Number.isFinite(n) || !aboveMin || n > max) {
      const low = minExclusive ? `> ${min}` : `>= ${min}`;
      throw new InvalidArgumentError(max === Infinity ? `expected a number ${low}` : `expected a number ${low} and <= ${max}`);
    }
    return n;
  };
}

export function integerList(min: number) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim());
    if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < min)) {
      throw new InvalidArgumentError(`expected a comma-separated list of integers >= ${min}, e.g. 64,64`);
    }
    return parts.map(Number);
  };
}

/** `name=scale,...` (src/nn/param-scales.ts), returned in canonical form ('' for none). */
export function paramScales(value: string): string {
  try {
    return formatParamScales(parseParamScales(value));
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}
