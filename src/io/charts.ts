/**
 * Line/point charts rendered to SVG (and, in Node, to PNG).
 *
 * Why this library: Vega-Lite (compiled to Vega, rendered by a headless Vega
 * `View` with renderer 'none' and `toSVG()`) gives us axes, nice ticks, log
 * scales, legends and multi-panel layouts from a small declarative spec, is
 * actively maintained, pure JavaScript (no node-canvas or headless browser),
 * deterministic for the same input, and runs unchanged in the browser. Without
 * node-canvas Vega estimates text widths for layout (legends get a little extra
 * room) but still emits real <text> elements. PNG output uses @resvg/resvg-js,
 * which draws that text with the machine's fonts (DejaVu Sans on Debian, from
 * the fonts-dejavu-core package); it is Node-only and imported lazily inside
 * `svgToPng`, so the SVG part of this module has no Node-only imports.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartSeries {
  label: string;
  x: number[];
  y: number[];
  mark?: 'line' | 'point';
  dashed?: boolean;
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  yLog?: boolean;
  /** A log x axis (e.g. learning rates, task counts); points with x <= 0 are dropped. */
  xLog?: boolean;
}

export interface ChartOptions {
  title?: string;
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

/** Vega's default categorical scheme (Tableau 10), cycled when there are more labels. */
const PALETTE = [
  '#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b',
  '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac',
];

/** Browsers use the first font they have; resvg (see svgToPng) finds DejaVu Sans. */
const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';
const DASH = [6, 4];

/** One data point; `series` (the series' index in its panel) keeps same-label series apart. */
interface Row { x: number; y: number; label: string; series: number }

type Group = 'line' | 'dashed' | 'point';

/** One element of a Vega-Lite `concat` (derived, as vega-lite exports only TopLevelSpec). */
type PanelSpec = Extract<TopLevelSpec, { concat: unknown }>['concat'][number];
type LayerItem = Extract<PanelSpec, { layer: unknown }>['layer'][number];

function groupOf(s: ChartSeries): Group {
  if (s.mark === 'point') return 'point';
  return s.dashed ? 'dashed' : 'line';
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 1) {
    throw new RangeError(`renderChartSvg: ${name} must be a finite number >= 1, got ${value}`);
  }
  return Math.floor(value);
}

/** Finite (x, y) pairs only; on a log axis also only values > 0. */
function rowsOf(s: ChartSeries, series: number, yLog: boolean, xLog = false): Row[] {
  const rows: Row[] = [];
  const n = Math.min(s.x.length, s.y.length);
  for (let i = 0; i < n; i++) {
    const x = s.x[i];
    const y = s.y[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if ((yLog && y <= 0) || (xLog && x <= 0)) continue;
    rows.push({ x, y, label: s.label, series });
  }
  return rows;
}

/** A Vega expression literal for a list of strings: JSON strings, non-ASCII as \\u escapes. */
function listLiteral(items: string[]): string {
  const quote = (s: string) =>
    JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `[${items.map(quote).join(',')}]`;
}

function uniqueLabels(series: ChartSeries[]): string[] {
  return [...new Set(series.map((s) => s.label))];
}

function panelSpec(
  panel: ChartPanel,
  domain: string[],
  range: string[],
  width: number,
  height: number,
): PanelSpec {
  const yLog = panel.yLog === true;
  const labels = uniqueLabels(panel.series);
  const pointLabels = uniqueLabels(panel.series.filter((s) => groupOf(s) === 'point'));
  const dashedLabels = uniqueLabels(panel.series.filter((s) => groupOf(s) === 'dashed'));

  const rowsByGroup: Record<Group, Row[]> = { line: [], dashed: [], point: [] };
  const xLog = panel.xLog === true;
  panel.series.forEach((s, i) => rowsByGroup[groupOf(s)].push(...rowsOf(s, i, yLog, xLog)));

  const groups: Group[] = (['line', 'dashed', 'point'] as const).filter((g) => rowsByGroup[g].length > 0);
  // A panel with no finite point still gets axes (over a placeholder domain), a title and a legend.
  const noData = groups.length === 0;
  if (noData) groups.push('line');
  const xDomain = noData ? { domain: xLog ? [1, 10] : [0, 1] } : {};
  const yDomain = noData ? { domain: yLog ? [1, 10] : [0, 1] } : {};

  const isPoint = `indexof(${listLiteral(pointLabels)}, datum.value) >= 0`;
  const isDashed = `indexof(${listLiteral(dashedLabels)}, datum.value) >= 0`;
  const layer = groups.map(
    (g): LayerItem => ({
      data: { values: rowsByGroup[g] },
      mark:
        g === 'point'
          ? { type: 'point', filled: true, size: 36, opacity: 1 }
          : { type: 'line', strokeWidth: 2, ...(g === 'dashed' ? { strokeDash: DASH } : {}) },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: panel.xLabel, scale: xLog ? { type: 'log', ...xDomain } : { zero: false, ...xDomain } },
        y: {
          field: 'y',
          type: 'quantitative',
          title: panel.yLabel,
          scale: yLog ? { type: 'log', ...yDomain } : { zero: false, ...yDomain },
        },
        detail: { field: 'series', type: 'nominal' },
        color: {
          field: 'label',
          type: 'nominal',
          scale: { domain, range },
          legend: labels.length === 0 ? null : {
            title: null,
            values: labels,
            description: `Legend: ${labels.join(', ')}`,
            symbolStrokeWidth: 2,
            // Legend symbols: a dot for point series, a (dashed) stroke for line series.
            encoding: {
              symbols: {
                shape: { value: 'stroke', condition: { test: isPoint, value: 'circle' } },
                strokeDash: { value: [1, 0], condition: { test: isDashed, value: DASH } },
                // Point layers add this themselves; the same on every layer keeps the legends mergeable.
                opacity: { value: 1 },
              },
            },
          },
        },
      },
    }),
  );
  return { title: panel.title, width, height, layer };
}

/**
 * Renders one or more panels (laid out in `columns` columns) to an SVG string.
 * Points with a non-finite x or y (and y <= 0 on a log axis) are dropped.
 * A label has the same colour in every panel.
 */
export async function renderChartSvg(panels: ChartPanel[], options: ChartOptions = {}): Promise<string> {
  if (panels.length === 0) throw new RangeError('renderChartSvg: at least one panel is required');
  const columns = positiveInt(options.columns, Math.min(3, panels.length), 'columns');
  const width = positiveInt(options.panelWidth, 260, 'panelWidth');
  const height = positiveInt(options.panelHeight, 180, 'panelHeight');

  const domain = uniqueLabels(panels.flatMap((p) => p.series));
  const range = domain.map((_, i) => PALETTE[i % PALETTE.length]);

  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title !== undefined ? { title: { text: options.title, fontSize: 15, anchor: 'start', offset: 8 } } : {}),
    background: 'white',
    padding: 8,
    columns,
    concat: panels.map((p) => panelSpec(p, domain, range, width, height)),
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: {
      font: FONT,
      view: { stroke: '#ddd' },
      concat: { spacing: 16 },
      legend: { labelFontSize: 11, labelLimit: 0 },
      title: { fontSize: 13 },
    },
  };

  const view = new View(parse(compile(spec).spec), { renderer: 'none', logLevel: 0 });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG string to PNG bytes (Node only). `scale` multiplies the
 * SVG's own width and height. Text is drawn with the system fonts (DejaVu Sans
 * preferred); on a machine without any fonts resvg silently drops text.
 */
export async function svgToPng(svg: string, scale = 1): Promise<Uint8Array> {
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new RangeError(`svgToPng: scale must be a finite number > 0, got ${scale}`);
  }
  const { renderAsync } = await import('@resvg/resvg-js');
  const image = await renderAsync(svg, {
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  });
  const png = image.asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
