/** Summary statistics as the original eval.py reports them. */

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Population standard deviation (numpy's default, which the original used). */
export function std(values: readonly number[]): number {
  const m = mean(values);
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
}

/** Half-width of the 95% confidence interval of the mean: 1.96 * std / sqrt(n). */
export function ci95(values: readonly number[]): number {
  return values.length === 0 ? NaN : (1.96 * std(values)) / Math.sqrt(values.length);
}

/**
 * The mean of a - b over paired values (the same tasks, evaluated two ways) and the half-width of
 * its 95% confidence interval: task difficulty cancels, so this interval is much narrower than
 * the two accuracies' own intervals when both fare alike on the same tasks.
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; ci95: number } {
  if (a.length !== b.length) throw new RangeError(`paired values need equal lengths, got ${a.length} and ${b.length}`);
  const d = a.map((v, i) => v - b[i]);
  return { mean: mean(d), ci95: ci95(d) };
}
