/**
 * The sine page: click points, fit them from the meta-learned and from a random initialisation.
 * Drawn on a plain 2-D canvas (by hand): clicks map to data coordinates and the curves redraw
 * at every step of an animation, which a declarative chart library does not make simpler.
 */
import { Rng } from '../src/index.js';
import { adaptationOf, fitSine, type RunSettings, type SineFits } from '../src/demo/index.js';
import { selectBackend } from './backend.js';
import { chooseRun, showError } from './run-data.js';
import { loadRunModel } from './run-model.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const X = [-5, 5];
const Y = [-6, 6];

async function main(): Promise<void> {
  const backend = await selectBackend();
  $('backend').textContent = backend;
  const run = await chooseRun();
  $('run').textContent = run.name;
  const settings = run.config as unknown as RunSettings;
  const { model, params } = await loadRunModel(run.name);
  if (model.inputShape.join() !== '1' || model.outputSize !== 1) throw new Error(`${run.name} is not a sine run (its model takes [${model.inputShape}])`);
  const adaptation = adaptationOf(settings);
  $('settings').textContent = `adaptation: ${adaptation.evalIters} steps of ${settings.innerOptimizer} (learning rate ${settings.learningRate}), minibatches of ${adaptation.evalBatch}`;
  const stepInput = $<HTMLInputElement>('step');
  stepInput.max = String(adaptation.evalIters);
  const rng = Rng.fromSeed(Number(new URLSearchParams(location.search).get('seed') ?? settings.seed ?? 0));
  const canvas = $<HTMLCanvasElement>('plot');
  const ctx = canvas.getContext('2d')!;
  const points = { x: [] as number[], y: [] as number[] };
  let truth: { amplitude: number; phase: number } | undefined;
  let fits: SineFits | undefined;
  let timer: number | undefined;

  const px = (x: number) => ((x - X[0]) / (X[1] - X[0])) * canvas.width;
  const py = (y: number) => canvas.height - ((y - Y[0]) / (Y[1] - Y[0])) * canvas.height;

  function curve(xs: ArrayLike<number>, ys: ArrayLike<number>, colour: string, dashed = false): void {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(dashed ? [6, 4] : []);
    ctx.beginPath();
    for (let i = 0; i < xs.length; i++) (i ? ctx.lineTo : ctx.moveTo).call(ctx, px(xs[i]), py(ys[i]));
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function draw(): void {
    const step = Number(stepInput.value);
    $('step-label').textContent = String(step);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#ddd';
    ctx.beginPath();
    ctx.moveTo(0, py(0));
    ctx.lineTo(canvas.width, py(0));
    ctx.moveTo(px(0), 0);
    ctx.lineTo(px(0), canvas.height);
    ctx.stroke();
    if (truth) {
      const xs = Array.from({ length: 200 }, (_, i) => X[0] + ((X[1] - X[0]) * i) / 199);
      curve(xs, xs.map((x) => truth!.amplitude * Math.sin(x + truth!.phase)), '#888', true);
    }
    if (fits) {
      curve(fits.grid, fits.fromScratch[step], '#1f77b4');
      curve(fits.grid, fits.metaLearned[step], '#d62728');
    }
    ctx.fillStyle = '#000';
    points.x.forEach((x, i) => {
      ctx.beginPath();
      ctx.arc(px(x), py(points.y[i]), 4, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  async function refit(): Promise<void> {
    if (points.x.length === 0) {
      fits = undefined;
      return draw();
    }
    $('status').textContent = 'adapting…';
    const started = performance.now();
    fits = await fitSine(model, params, points, adaptation, rng.int(2 ** 31));
    $('status').textContent = `${points.x.length} points; both fits: ${(performance.now() - started).toFixed(0)} ms on ${backend}`;
    draw();
    document.body.dataset.fitted = String(points.x.length);
  }

  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    points.x.push(X[0] + ((e.clientX - r.left) / r.width) * (X[1] - X[0]));
    points.y.push(Y[0] + (1 - (e.clientY - r.top) / r.height) * (Y[1] - Y[0]));
    void refit().catch(showError);
  });
  $('clear').addEventListener('click', () => {
    points.x = [];
    points.y = [];
    truth = undefined;
    void refit();
  });
  $('random').addEventListener('click', () => {
    // The benchmark's task distribution: A ~ U[0.1, 5], b ~ U[0, 2 pi], 10 points on [-5, 5].
    truth = { amplitude: rng.uniform(0.1, 5), phase: rng.uniform(0, 2 * Math.PI) };
    points.x = Array.from({ length: Number(settings.shots) || 10 }, () => rng.uniform(-5, 5));
    points.y = points.x.map((x) => truth!.amplitude * Math.sin(x + truth!.phase));
    stepInput.value = stepInput.max;
    void refit().catch(showError);
  });
  stepInput.addEventListener('input', draw);
  $('play').addEventListener('click', () => {
    window.clearInterval(timer);
    stepInput.value = '0';
    draw();
    timer = window.setInterval(() => {
      if (Number(stepInput.value) >= adaptation.evalIters) return window.clearInterval(timer);
      stepInput.value = String(Number(stepInput.value) + 1);
      draw();
    }, 120);
  });
  draw();
  document.body.dataset.ready = 'true';
}

main().catch(showError);
