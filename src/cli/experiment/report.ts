/**
 * The pieces of an experiment's Markdown report: tables of mean +- 95% CI and charts (SVG and
 * PNG, linked from the report) of a metric against a swept value or against meta-iterations.
 */
import { markdownTable } from 'markdown-table';
import type { ChartPanel, ChartSeries } from '../../io/charts.js';
import { writeChartFiles } from '../charts.js';
import type { CellResult } from './cells.js';
import { formatStats, groupRows, type Group, type Metric, type Row } from './rows.js';

/**
 * A table with one line per group of `keys` (columns titled by `titles`) and the metric's
 * mean +- CI over seeds, plus the individual runs' values.
 */
export function statsTable(rows: Row[], keys: string[], titles: string[], metric: Metric): string {
  const groups = groupRows(rows, keys);
  const best = bestGroup(groups, metric);
  const body = groups.map((g) => [
    ...keys.map((k) => String(g.key[k])),
    (g === best ? '**' : '') + formatStats(g, metric) + (g === best ? '**' : ''),
    String(g.rows.length),
    g.rows.map((r) => (r.status === 'done' ? metric.format(Number(r.value)) : String(r.status))).join(', '),
  ]);
  return markdownTable([[...titles, `${metric.label}, mean +- 95% CI`, 'runs', 'per run'], ...body]);
}

function bestGroup(groups: Group[], metric: Metric): Group | undefined {
  const finite = groups.filter((g) => Number.isFinite(g.stats.mean));
  if (finite.length < 2) return undefined;
  return finite.reduce((a, b) => ((metric.better === 'lower' ? b.stats.mean < a.stats.mean : b.stats.mean > a.stats.mean) ? b : a));
}

/** Mean line and dashed 95% CI bounds of each series group, against a numeric x key. */
export function sweepSeries(rows: Row[], xKey: string, seriesKeys: string[], metric: Metric): ChartSeries[] {
  const bySeries = new Map<string, Row[]>();
  for (const row of rows) {
    const label = seriesKeys.map((k) => String(row[k])).join(' ') || metric.label;
    bySeries.set(label, [...(bySeries.get(label) ?? []), row]);
  }
  const series: ChartSeries[] = [];
  for (const [label, seriesRows] of bySeries) {
    const groups = groupRows(seriesRows, [xKey]).sort((a, b) => Number(a.key[xKey]) - Number(b.key[xKey]));
    const x = groups.map((g) => Number(g.key[xKey]));
    const scale = metric.key === 'accuracy' ? 100 : 1;
    const y = groups.map((g) => scale * g.stats.mean);
    series.push({ label, x, y }, { label, x, y, mark: 'point' });
    if (groups.some((g) => Number.isFinite(g.stats.ci95))) {
      for (const sign of [-1, 1]) series.push({ label: `${label} 95% CI`, x, y: groups.map((g) => scale * (g.stats.mean + sign * g.stats.ci95)), dashed: true });
    }
  }
  return series;
}

/** Learning curves: the periodic metric against meta-iterations, averaged over each label's runs. */
export function learningCurveSeries(results: CellResult[], labelOf: (r: CellResult) => string, metric: Metric, split = 'test'): ChartSeries[] {
  const key = metric.periodicKey(split);
  const byLabel = new Map<string, Map<number, number[]>>();
  for (const r of results) {
    const points = byLabel.get(labelOf(r)) ?? new Map<number, number[]>();
    byLabel.set(labelOf(r), points);
    for (const m of r.metrics) {
      const iteration = Number(m.iteration);
      const value = Number(m[key]);
      if (!Number.isFinite(value)) continue;
      points.set(iteration, [...(points.get(iteration) ?? []), value]);
    }
  }
  const scale = metric.key === 'accuracy' ? 100 : 1;
  return [...byLabel].map(([label, points]) => {
    const x = [...points.keys()].sort((a, b) => a - b);
    return { label, x, y: x.map((i) => (scale * points.get(i)!.reduce((a, b) => a + b, 0)) / points.get(i)!.length) };
  });
}

/** Writes the chart into `chartsDir` and returns the Markdown that shows it. */
export async function chart(chartsDir: string, name: string, panels: ChartPanel[], title: string, columns = panels.length): Promise<string> {
  await writeChartFiles(chartsDir, name, panels, { columns, title });
  return `![${title}](charts/${name}.svg)\n\n(PNG: [charts/${name}.png](charts/${name}.png))`;
}
