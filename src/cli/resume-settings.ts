/**
 * `reptile train <the same arguments> --resume DIR`: the most common way people resume is to run
 * the same command again with --resume appended. Those arguments are accepted when they resolve
 * to the run's recorded settings, and refused, naming each setting that differs with both values,
 * when they do not (a resumed run never changes its settings).
 */
import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { FLAGS } from './train-options.js';
import type { TrainConfig } from './config.js';

/** The settings of `given` that differ from `recorded`, as `--flag given (recorded value)`. */
export function differingSettings(recorded: TrainConfig, given: TrainConfig): string[] {
  const show = (value: unknown) => (value === undefined ? 'unset' : JSON.stringify(value));
  const differences: string[] = [];
  if (given.benchmark !== recorded.benchmark) differences.push(`benchmark '${given.benchmark}' (recorded '${recorded.benchmark}')`);
  else {
    for (const spec of FLAGS) {
      const [a, b] = [recorded[spec.key], given[spec.key]];
      if (JSON.stringify(a) !== JSON.stringify(b)) differences.push(`${spec.flags.split(' ')[0]} ${show(b)} (recorded ${show(a)})`);
    }
    // --init-from is a file, not a flag of the table: the same file (by path; its sha256 is checked when the run resumes).
    const samePath = given.initFrom === recorded.initFrom || (given.initFrom !== undefined && recorded.initFrom !== undefined && resolve(given.initFrom) === resolve(recorded.initFrom));
    if (!samePath) differences.push(`--init-from ${show(given.initFrom)} (recorded ${show(recorded.initFrom)})`);
  }
  return differences;
}

/**
 * Refuses `given` (the command's arguments resolved as a new run would resolve them) unless it
 * equals the run's recorded settings. --out must name the run itself; --force is ignored, as a
 * resumed run is continued, never replaced.
 */
export function checkResumeArguments(dir: string, recorded: TrainConfig, given: TrainConfig, outGiven: boolean): void {
  const differences = differingSettings(recorded, given);
  if (outGiven && resolve(given.out) !== resolve(dir)) differences.push(`--out ${JSON.stringify(given.out)} (the run is in ${JSON.stringify(dir)})`);
  if (differences.length > 0) {
    throw new UsageError(`--resume ${dir} continues with the run's recorded settings, and these arguments differ: ${differences.join(', ')}; give the recorded values or drop them`);
  }
}
