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

/** Where a resumed session ran another level than the run's record: the phase and iteration it continued from. */
export interface ResumedCpuLevel {
  phase: number;
  iteration: number;
  level: CpuLevel;
}

/**
 * config.json's fields after a resumed session: `nativeCpuLevel` stays the level that started
 * the run, and `nativeCpuLevelResumed` lists every later session that ran another level (a run
 * moved to another CPU, or REPTILE_CPU), so the record says which level computed which part.
 * Undefined when the level is the one last recorded (nothing to write).
 */
export function resumedCpuLevel(recorded: { nativeCpuLevel?: CpuLevel; nativeCpuLevelResumed?: ResumedCpuLevel[] }, used: { nativeCpuLevel?: CpuLevel }, at: { phase: number; iteration: number }): { nativeCpuLevelResumed: ResumedCpuLevel[] } | undefined {
  const earlier = recorded.nativeCpuLevelResumed ?? [];
  const last = earlier.at(-1)?.level ?? recorded.nativeCpuLevel;
  if (used.nativeCpuLevel === undefined || used.nativeCpuLevel === last) return undefined;
  return { nativeCpuLevelResumed: [...earlier, { ...at, level: used.nativeCpuLevel }] };
}
