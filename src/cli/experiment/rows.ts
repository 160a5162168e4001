/**
 * One row per run (cell) with every hyperparameter the run resolved, its result, and what the
 * cell stands for; written as results.csv and results.json, and grouped into mean +- 95% CI
 * over seeds for the report's tables.
 */
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { writeFileAtomic, writeJsonAtomic } from '../../io/files.js';
import type { CellResult } from './cells.js';
import { seedStats, type SeedStats } from './seed-stats.js';

/** The headline metric of a benchmark's final evaluation. */
export interface Metric {
  key: 'mseAfter' | 'accuracy';
  /** Column title. */
  label: string;
  better: 'lower' | 'higher';
  /** The periodic metrics.jsonl field of the same quantity (for learning curves). */
  periodicKey: (split: string) => string;
  /** Formats a value (accuracy as a percentage). */
  format: (value: number) => string;
}

const MSE: Metric = { key: 'mseAfter', label: 'MSE after adaptation', better: 'lower', periodicKey: () => 'mseAfter', format: (v) => v.toFixed(3) };
const ACCURACY: Metric = { key: 'accuracy', label: 'accuracy (%)', better: 'higher', periodicKey: (split) => `${split}Accuracy`, format: (v) => (100 * v).toFixed(2) };

export function metricOf(benchmark: string): Metric {
  return benchmark === 'sine' ? MSE : ACCURACY;
}

export type Row = Record<string, string | number | boolean | null>;

/** Recorded keys that are not hyperparameters (where and with what the run ran). */
const NOT_SETTINGS = new Set(['out', 'force', 'startedAt', 'command', 'modelSpec', 'benchmark']);

function cellValue(value: unknown): string | number | boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return Array.isArray(value) ? value.join(',') : JSON.stringify(value);
}

/** The rows of `results`: labels, result, then every recorded setting. */
export function resultRows(experiment: string, results: CellResult[]): Row[] {
  return results.map((r) => {
    const metric = metricOf(r.cell.benchmark);
    const evaluation = (r.summary?.eval ?? {}) as Record<string, unknown>;
    const row: Row = { experiment, cell: r.id, benchmark: r.cell.benchmark, status: r.status };
    for (const [key, value] of Object.entries(r.cell.labels)) row[key] = value;
    row.metric = metric.key;
    row.value = r.status === 'done' ? Number(evaluation[metric.key]) : null;
    row.taskCi95 = r.status === 'done' ? Number(evaluation.ci95) : null;
    row.evalTasks = cellValue(evaluation.tasks);
    row.evalSplit = cellValue(evaluation.split ?? 'test');
    row.mseBefore = cellValue(evaluation.mseBefore);
    row.wallSeconds = cellValue(r.summary?.wallSeconds);
    row.metaItersPerSecond = cellValue(r.summary?.metaItersPerSecond);
    row.message = r.message ?? null;
    for (const [key, value] of Object.entries(r.config ?? { ...r.cell.settings })) {
      if (!NOT_SETTINGS.has(key) && !(key in row)) row[key] = cellValue(value);
    }
    return row;
  });
}

/** results.csv and results.json in `dir`. */
export async function writeRows(dir: string, rows: Row[]): Promise<void> {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  await writeJsonAtomic(join(dir, 'results.json'), rows);
  await writeFileAtomic(join(dir, 'results.csv'), stringify(rows, { header: true, columns, cast: { boolean: (b) => String(b) } }));
}

export interface Group {
  /** The grouping labels' values. */
  key: Record<string, string | number>;
  rows: Row[];
  stats: SeedStats;
}

/** Groups rows by the values of `keys` (in first-seen order) with mean +- CI over their runs. */
export function groupRows(rows: Row[], keys: string[]): Group[] {
  const groups = new Map<string, Group>();
  for (const row of rows) {
    const key = Object.fromEntries(keys.map((k) => [k, row[k] as string | number]));
    const id = JSON.stringify(key);
    if (!groups.has(id)) groups.set(id, { key, rows: [], stats: { n: 0, mean: NaN, ci95: NaN } });
    groups.get(id)!.rows.push(row);
  }
  for (const group of groups.values()) group.stats = seedStats(group.rows.map((r) => (r.status === 'done' ? Number(r.value) : NaN)));
  return [...groups.values()];
}

/**
 * "mean +- ci (n runs)"; one run shows its CI over evaluation tasks instead (marked "tasks"),
 * since there is no spread over seeds to report.
 */
export function formatStats(group: Group, metric: Metric): string {
  const { n, mean, ci95 } = group.stats;
  const failed = group.rows.length - n;
  const note = failed > 0 ? ` (${failed} of ${group.rows.length} diverged or failed)` : '';
  if (n === 0) return `- ${note}`;
  if (n === 1) {
    const taskCi = Number(group.rows.find((r) => r.status === 'done')!.taskCi95);
    return `${metric.format(mean)} +- ${metric.format(taskCi)} (1 run; CI over tasks)${note}`;
  }
  return `${metric.format(mean)} +- ${metric.format(ci95)}${note}`;
}
