/**
 * The dashboard: every run the server lists, its state and summary, and the chosen runs' curves
 * (vega-embed) side by side. Runs still training stream their new metrics points over
 * server-sent events (runs/<name>/events) and the chart grows as they arrive.
 */
import embed from 'vega-embed';
import { fetchJson, runUrl, showError, type RunEntry } from './run-data.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
type Point = Record<string, unknown>;

const metrics = new Map<string, Point[]>();
const selected = new Set<string>();
const sources = new Map<string, EventSource>();
let runs: RunEntry[] = [];

function result(run: RunEntry): string {
  const e = run.summary?.eval as Record<string, number> | undefined;
  if (!e) return run.state === 'error' ? `error: ${run.error}` : '';
  if (e.accuracy !== undefined) return `${(100 * e.accuracy).toFixed(2)}% ± ${(100 * e.ci95).toFixed(2)} (${e.ways}-way ${e.shots}-shot)`;
  if (e.mseAfter !== undefined) return `MSE ${e.mseBefore.toFixed(3)} → ${e.mseAfter.toFixed(3)} ± ${e.ci95.toFixed(3)}`;
  return '';
}

function renderTable(): void {
  const body = $('runs').querySelector('tbody')!;
  body.replaceChildren(
    ...runs.map((r) => {
      const tr = document.createElement('tr');
      const s = r.summary ?? {};
      const cells = [r.name, r.state, String(r.config?.benchmark ?? ''), String(r.config?.algorithm ?? ''), String(r.config?.metaIters ?? ''), String(metrics.get(r.name)?.length ?? r.points ?? 0), result(r), s.msPerMetaIteration !== undefined ? Number(s.msPerMetaIteration).toFixed(2) : '', String(s.backend ?? r.config?.backendUsed ?? '')];
      tr.innerHTML = `<td><input type="checkbox" ${selected.has(r.name) ? 'checked' : ''} ${r.state === 'error' ? 'disabled' : ''}></td>` + cells.map(() => '<td></td>').join('');
      cells.forEach((c, i) => (tr.children[i + 1].textContent = c));
      if (r.state === 'error') tr.children[7].setAttribute('style', 'color:#900');
      tr.querySelector('input')!.addEventListener('change', (e) => {
        if ((e.target as HTMLInputElement).checked) selected.add(r.name);
        else selected.delete(r.name);
        void load(r).then(renderChart);
      });
      tr.dataset.run = r.name;
      tr.dataset.state = r.state;
      return tr;
    }),
  );
}

/** Numeric metrics other than the bookkeeping ones. */
function metricNames(): string[] {
  const names = new Set<string>();
  for (const name of selected) for (const p of metrics.get(name) ?? []) for (const [k, v] of Object.entries(p)) if (typeof v === 'number' && !['iteration', 'elapsedSeconds'].includes(k)) names.add(k);
  return [...names].sort();
}

function renderChart(): void {
  const select = $<HTMLSelectElement>('metric');
  const names = metricNames();
  const current = select.value || (names.includes('testAccuracy') ? 'testAccuracy' : names.includes('mseAfter') ? 'mseAfter' : names[0]);
  select.replaceChildren(...names.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n, selected: n === current })));
  const values = [...selected].flatMap((name) => (metrics.get(name) ?? []).filter((p) => typeof p[current] === 'number').map((p) => ({ run: `${name} ${p.algorithm ?? ''}`.trim(), iteration: p.iteration, value: p[current] })));
  $('chart').dataset.points = String(values.length);
  if (!current) return;
  void embed('#chart', {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 320,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'iteration', type: 'quantitative', title: 'meta-iteration' },
      y: { field: 'value', type: 'quantitative', title: current, scale: { zero: false, ...(current.startsWith('mse') ? { type: 'log' } : {}) } },
      color: { field: 'run', type: 'nominal' },
    },
  }, { actions: false, renderer: 'svg' }).catch(showError);
}

/** A run's metrics; a run still training keeps them coming over server-sent events. */
async function load(run: RunEntry): Promise<void> {
  if (metrics.has(run.name) || run.state === 'error') return;
  const status = await fetchJson<RunEntry & { metrics: Point[] }>(runUrl(run.name, 'run.json'));
  metrics.set(run.name, status.metrics);
  if (status.state === 'running' && typeof EventSource !== 'undefined' && !sources.has(run.name)) listen(run.name);
}

function listen(name: string): void {
  const source = new EventSource(runUrl(name, 'events'));
  sources.set(name, source);
  $('live').textContent = 'live: new points appear as the runs write them';
  // The stream starts from the beginning of metrics.jsonl: replace what run.json gave.
  let fresh = true;
  source.addEventListener('metrics', (e) => {
    const points = JSON.parse((e as MessageEvent).data) as Point[];
    metrics.set(name, [...(fresh ? [] : metrics.get(name) ?? []), ...points]);
    fresh = false;
    renderTable();
    renderChart();
  });
  source.addEventListener('reset', () => (fresh = true));
  source.addEventListener('state', (e) => {
    const state = JSON.parse((e as MessageEvent).data) as Partial<RunEntry>;
    const run = runs.find((r) => r.name === name);
    if (run) Object.assign(run, state);
    renderTable();
    if (state.state !== 'running') {
      source.close();
      sources.delete(name);
    }
  });
  source.onerror = () => {
    // The server went away (a training run's dashboard ends with it): keep what we have.
    if (source.readyState === EventSource.CLOSED) sources.delete(name);
  };
}

/**
 * The runs, once the one named by ?run= is readable: `train --dashboard` prints its address before
 * the run has written its config.json (the server starts first, so that a busy port fails before
 * anything is trained), and a page opened at once would otherwise find no run to follow.
 */
async function runsWith(wanted: string | null): Promise<RunEntry[]> {
  const patienceMs = 120_000;
  const started = Date.now();
  for (;;) {
    const list = await fetchJson<RunEntry[]>('runs.json');
    const run = wanted === null ? undefined : list.find((r) => r.name === wanted);
    if (wanted === null || (run !== undefined && run.state !== 'error') || Date.now() - started > patienceMs) return list;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const wanted = new URLSearchParams(location.search).get('run');
  runs = await runsWith(wanted);
  for (const r of runs) if ((wanted ? r.name === wanted : true) && r.state !== 'error') selected.add(r.name);
  await Promise.all(runs.filter((r) => selected.has(r.name)).map(load));
  $('metric').addEventListener('change', renderChart);
  renderTable();
  renderChart();
  document.body.dataset.ready = 'true';
}

main().catch(showError);
