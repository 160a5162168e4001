/**
 * The native addon's instruction-set levels the tests run the kernel at: every level this CPU
 * runs (native/cnn-level.c builds each; src/kernels/fused-native.ts picks one), so that each
 * level's code is held to the same comparisons. Where the addon is not built: one entry, with the
 * reason to skip (or fail, with REPTILE_REQUIRE_NATIVE=1: require.ts).
 */
import { nativeCpuLevels, nativeKernels, nativeKernelsStatus, useNativeCpuLevel, type CpuLevel } from '../../src/kernels/fused-native.js';
import { requirement } from './require.js';

export interface NativeLevel {
  /** undefined where the addon is not built. */
  level: CpuLevel | undefined;
  /** For test names: 'native avx2', or 'native' where there is no addon. */
  label: string;
  skip: string | false;
}

export function nativeLevels(): NativeLevel[] {
  const built = nativeKernels() !== undefined;
  if (!built) return [{ level: undefined, label: 'native', skip: requirement('native', false, `the native addon is ${nativeKernelsStatus()}`) }];
  return nativeCpuLevels().map((level) => ({ level, label: `native ${level}`, skip: false }));
}

/** Makes the addon run `level` (in every thread) before a test that runs the native kernel. */
export function runNativeAt(level: CpuLevel | undefined): void {
  if (level) useNativeCpuLevel(level);
}
