/**
 * REPTILE_CPU at the command line: the native addon's instruction-set level
 * (src/kernels/fused-native.ts), checked before any command runs and recorded in config.json.
 */
import { CPU_LEVELS, cpuLevelRefusal, nativeCpuLevel, nativeCpuRefusal, type CpuLevel } from '../kernels/fused-native.js';
import { UsageError } from './errors.js';

/**
 * A REPTILE_CPU that cannot be honoured is a usage error (one line, exit 2) before anything is
 * written. With REPTILE_NATIVE=0 the addon is left out, so only the value's spelling is checked.
 */
export function checkCpuLevelSetting(): void {
  const wanted = process.env.REPTILE_CPU;
  if (!wanted) return;
  const problem = process.env.REPTILE_NATIVE === '0' ? cpuLevelRefusal(wanted, CPU_LEVELS) : nativeCpuRefusal();
  if (problem) throw new UsageError(problem);
}

/** config.json's record of the level that ran, where the native CNN kernel runs the training's or the evaluation's inner loops. */
export function nativeCpuLevelUsed(innerLoopUsed: { training: string; evaluation: string }): { nativeCpuLevel?: CpuLevel } {
  const native = innerLoopUsed.training === 'fused-cnn-native' || innerLoopUsed.evaluation === 'fused-cnn-native';
  return native ? { nativeCpuLevel: nativeCpuLevel() } : {};
}
