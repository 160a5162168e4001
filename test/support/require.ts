/**
 * What a test needs from the machine (the Omniglot archives, Chromium, the native addon, Redis) and
 * whether its absence skips the test or fails it. Outside CI a missing capability is a skip
 * reason; `.ci/run` sets REPTILE_REQUIRE_DATA=1, REPTILE_REQUIRE_BROWSER=1, REPTILE_REQUIRE_REDIS=1 and
 * REPTILE_REQUIRE_NATIVE=1, which turn that skip into an error naming what is missing, so that a
 * CI run cannot pass by skipping.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Capability = 'data' | 'browser' | 'native' | 'redis';

/** The environment variable that makes a capability required. */
export function requireVariable(capability: Capability): string {
  return `REPTILE_REQUIRE_${capability.toUpperCase()}`;
}

/**
 * `false` (run the test) when the capability is present; otherwise `missing` as the reason to
 * skip, or, when its REPTILE_REQUIRE_* variable is 1, an Error thrown with that reason (the test
 * file fails, naming what is missing). `missing` says what is absent and where, e.g.
 * "the Omniglot archives are not at /path".
 */
export function requirement(capability: Capability, present: boolean, missing: string): string | false {
  if (present) return false;
  const variable = requireVariable(capability);
  if (process.env[variable] === '1') throw new Error(`${variable}=1, but ${missing}`);
  return missing;
}

/**
 * The Omniglot archives: ../shared/data/omniglot relative to the repository
 * (<clone>/../shared/data/omniglot in CI), or $REPTILE_TEST_OMNIGLOT.
 */
export const OMNIGLOT_DATA = process.env.REPTILE_TEST_OMNIGLOT || resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/omniglot');

/** The requirement of the Omniglot archives `files` (default: both zips) in {@link OMNIGLOT_DATA}. */
export function omniglotRequirement(files: readonly string[] = ['images_background.zip', 'images_evaluation.zip']): string | false {
  const absent = files.filter((f) => !existsSync(join(OMNIGLOT_DATA, f)));
  return requirement('data', absent.length === 0, `the Omniglot archives are not at ${OMNIGLOT_DATA} (missing ${absent.join(', ')})`);
}
