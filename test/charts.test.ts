import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderChartSvg, svgToPng, type ChartPanel, type ChartSeries } from '../src/io/charts.js';

const xs = Array.from({ length: 41 }, (_, i) => -5 + i * 0.25);
const sampleX = [-4.5, -3.1, -2.2, -1.0, -0.3, 0.4, 1.7, 2.6, 3.3, 4.8];

function sineFigurePanel(title: string, phase: number): ChartPanel {
  const fit = (amp: number) => (x: number) => amp * Math.sin(x + phase);
  const series: ChartSeries[] = [
    { label: 'true function', x: xs, y: xs.map(fit(2)) },
    { label: 'samples', x: sampleX, y: sampleX.map(fit(2)), mark: 'point' },
    { label: 'after 0 steps', x: xs, y: xs.map(fit(0.3)), dashed: true },
    { label: 'after 1 step', x: xs, y: xs.map(fit(1.4)) },
    { label: 'after 32 steps', x: xs, y: xs.map(fit(1.95)) },
  ];
  return { title, xLabel: 'x', yLabel: 'y', series };
}

function learningCurvePanel(title: string, yLog = false): ChartPanel {
  const it = [0, 100, 200, 300, 400, 500];
  return {
    title,
    xLabel: 'iteration',
    yLabel: 'loss',
    yLog,
    series: [
      { label: 'train loss', x: it, y: [2.1, 1.2, 0.7, 0.5, 0.35, 0.3] },
      { label: 'test loss', x: it, y: [2.3, 1.4, 0.9, 0.7, 0.6, 0.55], dashed: true },
    ],
  };
}

/** Text content of all <text> elements (legend labels, titles, tick labels). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

/** Width and height of the root <svg>. */
function svgSize(svg: string): { width: number; height: number } {
  const root = /^<svg[^>]*>/.exec(svg);
  assert.ok(root, 'no root <svg> element');
  const attr = (name: string) => Number(new RegExp(`\\s${name}="([0-9.]+)"`).exec(root[0])?.[1]);
  return { width: attr('width'), height: attr('height') };
}

/** Top-left corner of each panel (the translate of each concat_N_group), in panel order. */
function panelOrigins(svg: string): [number, number][] {
  const re = /class="mark-group role-scope concat_(\d+)_group"[^>]*><g transform="translate\(([-0-9.]+),([-0-9.]+)\)"/g;
  return [...svg.matchAll(re)]
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => [Number(m[2]), Number(m[3])]);
}

/** Drawn line marks (one <path> per series) with their series label and stroke colour. */
function lineMarks(svg: string): { label: string; stroke: string; d: string }[] {
  const re = /<path aria-label="[^"]*label: ([^"]*); series: \d+" role="graphics-symbol" aria-roledescription="line mark" d="([^"]*)" stroke="(#[0-9a-f]{6})"/g;
  return [...svg.matchAll(re)].map((m) => ({ label: m[1], d: m[2], stroke: m[3] }));
}

/** Legends, each as the list of its labels (from the legend's aria-label). */
function legends(svg: string): string[][] {
  return [...svg.matchAll(/aria-roledescription="legend" aria-label="Legend: ([^"]*)"/g)].map((m) => m[1].split(', '));
}

function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(String.fromCharCode(...png.subarray(12, 16)), 'IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

test('single panel: well-formed SVG with title, axis labels and every series label', async () => {
  const svg = await renderChartSvg([sineFigurePanel('Reptile', 0.5)], { title: 'Figure 1' });
  assert.ok(svg.startsWith('<svg'), svg.slice(0, 80));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const t = texts(svg);
  for (const want of ['Figure 1', 'Reptile', 'x', 'y', 'true function', 'samples', 'after 0 steps', 'after 1 step', 'after 32 steps']) {
    assert.ok(t.includes(want), `missing text "${want}"`);
  }
  const { width, height } = svgSize(svg);
  assert.ok(width > 260 && height > 180, `size ${width}x${height}`);
  // Dashed series and point series are really drawn as such.
  assert.ok(svg.includes('stroke-dasharray="6,4"'), 'dashed line');
  assert.equal((svg.match(/aria-roledescription="point"/g) ?? []).length, sampleX.length, 'one dot per sample');
  assert.deepEqual(lineMarks(svg).map((m) => m.label).sort(), ['after 0 steps', 'after 1 step', 'after 32 steps', 'true function']);
  assert.deepEqual(legends(svg), [['true function', 'samples', 'after 0 steps', 'after 1 step', 'after 32 steps']]);
});

test('2x3 layout: six panels, all titles and labels, colours consistent per label', async () => {
  const panels = [
    sineFigurePanel('MAML, 0 steps', 0.1),
    sineFigurePanel('MAML, 32 steps', 0.2),
    learningCurvePanel('MAML loss'),
    sineFigurePanel('Reptile, 0 steps', 0.3),
    sineFigurePanel('Reptile, 32 steps', 0.4),
    learningCurvePanel('Reptile loss (log)', true),
  ];
  const wide = await renderChartSvg(panels, { columns: 3, panelWidth: 200, panelHeight: 120 });
  const tall = await renderChartSvg(panels, { columns: 2, panelWidth: 200, panelHeight: 120 });
  const t = texts(wide);
  for (const p of panels) {
    assert.ok(t.includes(p.title), `missing title ${p.title}`);
    for (const s of p.series) assert.ok(t.includes(s.label), `missing label ${s.label}`);
  }
  // Each panel has its own legend: 4 sine panels x 5 labels + 2 curve panels x 2 labels.
  const legendLabels = t.filter((s) => panels.some((p) => p.series.some((q) => q.label === s)));
  assert.equal(legendLabels.length, 4 * 5 + 2 * 2);
  // 3 columns: panels on a 2x3 grid, in row-major order.
  const origins = panelOrigins(wide);
  assert.equal(origins.length, 6);
  const xsOf = new Set(origins.map(([x]) => x));
  const ysOf = new Set(origins.map(([, y]) => y));
  assert.equal(xsOf.size, 3, JSON.stringify(origins));
  assert.equal(ysOf.size, 2, JSON.stringify(origins));
  for (let i = 0; i < 6; i++) {
    const [x, y] = origins[i];
    assert.equal(x, origins[i % 3][0]);
    assert.equal(y, origins[3 * Math.floor(i / 3)][1]);
    if (i % 3 > 0) assert.ok(x > origins[i - 1][0]);
  }
  assert.ok(origins[3][1] > origins[0][1] + 120);
  // 2 columns -> 3 rows: narrower and taller.
  const s3 = svgSize(wide);
  const s2 = svgSize(tall);
  assert.equal(new Set(panelOrigins(tall).map(([, y]) => y)).size, 3);
  assert.ok(s3.width > s2.width && s3.height < s2.height, `3 cols ${JSON.stringify(s3)}, 2 cols ${JSON.stringify(s2)}`);
  // One legend per panel, listing that panel's labels.
  assert.deepEqual(legends(wide), panels.map((p) => p.series.map((q) => q.label)));
  // Every label keeps one colour everywhere, and different labels get different colours.
  const colourOf = new Map<string, string>();
  for (const m of lineMarks(wide)) {
    assert.equal(colourOf.get(m.label) ?? m.stroke, m.stroke, `colour of ${m.label}`);
    colourOf.set(m.label, m.stroke);
  }
  assert.equal(colourOf.size, 6);
  assert.equal(new Set(colourOf.values()).size, 6);
});

test('colour of a label is the same in every panel', async () => {
  const a: ChartPanel = { title: 'A', xLabel: 'x', yLabel: 'y', series: [
    { label: 'alpha', x: [0, 1], y: [0, 1] },
    { label: 'beta', x: [0, 1], y: [1, 0] },
  ] };
  // Same label "beta" alone (and first) in the second panel.
  const b: ChartPanel = { title: 'B', xLabel: 'x', yLabel: 'y', series: [{ label: 'beta', x: [0, 1], y: [3, 4] }] };
  const svg = await renderChartSvg([a, b], { columns: 2 });
  const marks = lineMarks(svg);
  assert.deepEqual(marks.map((m) => m.label), ['alpha', 'beta', 'beta']);
  const [alpha, betaA, betaB] = marks.map((m) => m.stroke);
  assert.notEqual(alpha, betaA);
  assert.equal(betaB, betaA);
  assert.deepEqual(legends(svg), [['alpha', 'beta'], ['beta']]);
});

test('series sharing a label stay separate lines; odd label text is escaped, not fatal', async () => {
  const odd = 'fit "θ" \\ <b>&amp; \u2028end';
  const svg = await renderChartSvg([{
    title: 'a < b & c',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { label: 'run', x: [0, 1], y: [0, 0] },
      { label: 'run', x: [0, 1], y: [1, 1] },
      { label: odd, x: [0.5], y: [0.5], mark: 'point' },
    ],
  }]);
  assert.equal(lineMarks(svg).filter((m) => m.label === 'run').length, 2);
  assert.ok(texts(svg).includes('a &lt; b &amp; c'));
  assert.ok(texts(svg).includes('fit "θ" \\ &lt;b&gt;&amp;amp; \u2028end'));
  assert.equal(legends(svg).length, 1);
});

test('NaN and Infinity points are skipped; empty series and empty panels render', async () => {
  const panel: ChartPanel = {
    title: 'with gaps',
    xLabel: 'iteration',
    yLabel: 'loss',
    series: [
      { label: 'gappy', x: [0, 1, 2, 3, 4], y: [1, NaN, 3, Infinity, 5] },
      { label: 'nothing yet', x: [], y: [] },
      { label: 'bad x', x: [NaN, 1], y: [1, -Infinity] },
    ],
  };
  const empty: ChartPanel = { title: 'no series', xLabel: 'a', yLabel: 'b', series: [] };
  const svg = await renderChartSvg([panel, empty]);
  assert.ok(!/NaN|Infinity/.test(svg), 'non-finite value leaked into the SVG');
  const t = texts(svg);
  for (const want of ['with gaps', 'gappy', 'nothing yet', 'bad x', 'no series']) assert.ok(t.includes(want), want);
  // The gappy series keeps exactly its 3 finite points: a path with 3 vertices (M + 2 L).
  const gappy = lineMarks(svg).filter((m) => m.label === 'gappy');
  assert.equal(gappy.length, 1);
  assert.equal((gappy[0].d.match(/[ML]/g) ?? []).length, 3, gappy[0].d);
  // 'bad x' has no finite point left, so no line is drawn for it; its legend entry stays.
  assert.equal(lineMarks(svg).filter((m) => m.label === 'bad x').length, 0);
  assert.deepEqual(legends(svg), [['gappy', 'nothing yet', 'bad x']]); // no legend for the empty panel
  // Log axis: zero / negative values are dropped too, not thrown on.
  const logSvg = await renderChartSvg([{ ...panel, yLog: true, series: [{ label: 'l', x: [0, 1, 2], y: [0, -1, 10] }] }]);
  assert.ok(logSvg.startsWith('<svg') && !/NaN|Infinity/.test(logSvg));
});

test('same input renders identical SVG, also after rendering something else', async () => {
  const panels = [sineFigurePanel('Reptile', 0.5), learningCurvePanel('loss', true)];
  const opts = { title: 'determinism', columns: 2 };
  const first = await renderChartSvg(panels, opts);
  await renderChartSvg([learningCurvePanel('other')]);
  const second = await renderChartSvg(panels, opts);
  assert.equal(second, first);
});

test('bad options are rejected', async () => {
  await assert.rejects(renderChartSvg([]), RangeError);
  await assert.rejects(renderChartSvg([learningCurvePanel('x')], { columns: 0 }), RangeError);
  await assert.rejects(svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>', 0), RangeError);
});

test('svgToPng: PNG signature, IHDR size matches the SVG and scales', async () => {
  const svg = await renderChartSvg([learningCurvePanel('curve')], { panelWidth: 160, panelHeight: 100 });
  const { width: svgWidth, height: svgHeight } = svgSize(svg);
  const png1 = await svgToPng(svg);
  const png2 = await svgToPng(svg, 2);
  assert.ok(png1 instanceof Uint8Array);
  assert.deepEqual([...png1.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.deepEqual([...png2.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const s1 = pngSize(png1);
  const s2 = pngSize(png2);
  assert.ok(s1.width > 0 && s1.height > 0);
  assert.deepEqual(s1, { width: svgWidth, height: svgHeight });
  assert.ok(Math.abs(s2.width - 2 * s1.width) <= 1 && Math.abs(s2.height - 2 * s1.height) <= 1, `${JSON.stringify(s1)} -> ${JSON.stringify(s2)}`);
  assert.ok(png2.length > png1.length);
});

test('svgToPng draws text (a usable font is installed: fonts-dejavu-core on Debian)', async () => {
  const page = (body: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><rect width="120" height="30" fill="white"/>${body}</svg>`;
  const blank = await svgToPng(page(''));
  for (const family of ['sans-serif', 'Helvetica, Arial, DejaVu Sans, sans-serif']) {
    const withText = await svgToPng(page(`<text x="4" y="22" font-family="${family}" font-size="16">loss 0.5</text>`));
    assert.notDeepEqual(withText, blank, `text in font-family "${family}" was not drawn: no font found`);
  }
});
