/**
 * Mean and 95% confidence interval over a few runs (seeds). With 2-5 seeds the normal 1.96 is
 * far too narrow, so the half-width uses Student's t quantile (jstat) with n - 1 degrees of
 * freedom and the sample standard deviation.
 */
import jstat from 'jstat';

export interface SeedStats {
  n: number;
  mean: number;
  /** Half-width of the 95% CI of the mean; NaN with fewer than 2 finite values. */
  ci95: number;
}

export function seedStats(values: readonly number[]): SeedStats {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return { n, mean: NaN, ci95: NaN };
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, ci95: NaN };
  const variance = finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { n, mean, ci95: jstat.jStat.studentt.inv(0.975, n - 1) * Math.sqrt(variance / n) };
}
