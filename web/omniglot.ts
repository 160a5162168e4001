/** The few-shot page: draw or sample N symbols, adapt the run's meta-parameters, classify live. */
import { Rng } from '../src/index.js';
import { FewShotDemo, adaptationOf, drawingToExample, decodeSamples, samplePageTask, SAMPLES_FILE, type LabelledExamples, type OmniglotSamples, type RunSettings } from '../src/demo/index.js';
import { selectBackend } from './backend.js';
import { chooseRun, fetchJson, runUrl, showError } from './run-data.js';
import { loadRunModel } from './run-model.js';
import { DrawPad, thumbnail } from './draw-pad.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const MAX_SHOTS = 5;
const SIZE = 28;

interface ClassBox {
  name: string;
  examples: Float32Array[];
  pad: DrawPad;
  title: HTMLElement;
  thumbs: HTMLElement;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function main(): Promise<void> {
  const backend = await selectBackend();
  $('backend').textContent = backend;
  document.body.dataset.backend = backend;
  const run = await chooseRun();
  if (run.config?.benchmark === 'sine') {
    location.replace(`sine.html?run=${encodeURIComponent(run.name)}${location.search.includes('backend=') ? `&backend=${new URLSearchParams(location.search).get('backend')}` : ''}`);
    return;
  }
  $('run').textContent = run.name;
  const settings = run.config as unknown as RunSettings;
  const { model, params } = await loadRunModel(run.name);
  if (model.inputShape.length !== 3 || model.inputShape[0] !== SIZE || model.inputShape[2] !== 1) {
    if (model.inputShape.join() !== String(SIZE * SIZE)) throw new Error(`this page draws 28x28 grey symbols; the run's model takes [${model.inputShape}]`);
  }
  const demo = new FewShotDemo(model, params, adaptationOf(settings));
  const a = demo.adaptation;
  $('settings').textContent = `${model.spec?.kind === 'conv' ? 'CNN' : 'MLP'}, ${demo.ways}-way; adaptation: ${a.evalIters} steps of ${settings.innerOptimizer} (learning rate ${settings.learningRate}), minibatches of ${a.evalBatch}${a.transductive ? ', transductive' : ''}`;
  const seed = Number(new URLSearchParams(location.search).get('seed') ?? settings.seed ?? 0);
  const rng = Rng.fromSeed(seed);
  let heldOut: LabelledExamples | undefined;

  const boxes: ClassBox[] = [];
  for (let c = 0; c < demo.ways; c++) {
    const el = document.createElement('div');
    el.className = 'class';
    el.innerHTML = `<h3>symbol ${c + 1}</h3><canvas class="pad" width="105" height="105"></canvas><div><button>Add</button><button>Clear</button></div><div class="thumbs"></div>`;
    $('classes').append(el);
    const [add, clear] = Array.from(el.querySelectorAll('button'));
    const box: ClassBox = { name: `symbol ${c + 1}`, examples: [], pad: new DrawPad(el.querySelector('canvas')!), title: el.querySelector('h3')!, thumbs: el.querySelector('.thumbs')! };
    el.dataset.class = String(c);
    add.addEventListener('click', () => {
      if (!box.pad.dirty || box.examples.length >= MAX_SHOTS) return;
      addExample(box, drawingToExample(box.pad.imageData()));
      box.pad.clear();
      changed();
    });
    clear.addEventListener('click', () => {
      box.examples = [];
      box.thumbs.replaceChildren();
      box.pad.clear();
      changed();
    });
    boxes.push(box);
  }

  function addExample(box: ClassBox, example: Float32Array): void {
    box.examples.push(example);
    box.thumbs.append(thumbnail(example, SIZE));
  }

  function support(): LabelledExamples {
    const x: Float32Array[] = [];
    const y: number[] = [];
    boxes.forEach((b, c) => b.examples.forEach((e) => (x.push(e), y.push(c))));
    return { x, y };
  }

  /** Examples changed: the adaptation no longer matches them. */
  function changed(): void {
    demo.reset();
    document.body.dataset.adapted = 'false';
    $('adapt').toggleAttribute('disabled', boxes.some((b) => b.examples.length === 0));
    $('acc-after').textContent = '–';
  }

  const testPad = new DrawPad($<HTMLCanvasElement>('test-pad'), () => void classifyTest());
  async function classifyTest(): Promise<void> {
    if (!testPad.dirty) return;
    const s = support();
    const { classes, probabilities } = await demo.classify([drawingToExample(testPad.imageData())], s.x.length > 0 ? s : undefined);
    const best = classes[0];
    const rows = probabilities[0].map((p, c) => `<tr class="${c === best ? 'predicted' : ''}"><td>${boxes[c].name}</td><td><span class="bar" style="width:${Math.round(100 * p)}px"></span> ${pct(p)}</td></tr>`);
    $('prediction').innerHTML = `<table>${rows.join('')}</table><p>${demo.isAdapted ? 'after adaptation' : 'before adaptation (press Adapt)'}</p>`;
    $('prediction').dataset.class = String(best);
    // How many strokes' classifications have landed since the pad was cleared (tests wait on it).
    $('prediction').dataset.count = String(Number($('prediction').dataset.count ?? 0) + 1);
  }
  $('test-clear').addEventListener('click', () => {
    testPad.clear();
    $('prediction').textContent = 'draw in the test pad';
    $('prediction').dataset.class = '';
    $('prediction').dataset.count = '0';
  });

  $('clear-all').addEventListener('click', () => {
    for (const b of boxes) {
      b.examples = [];
      b.thumbs.replaceChildren();
      b.pad.clear();
      b.name = b.title.textContent = `symbol ${boxes.indexOf(b) + 1}`;
    }
    heldOut = undefined;
    $('acc-before').textContent = '–';
    changed();
  });

  let samples: ReturnType<typeof decodeSamples> | undefined;
  try {
    samples = decodeSamples(await fetchJson<OmniglotSamples>(runUrl(run.name, SAMPLES_FILE)));
    $('sample').removeAttribute('disabled');
  } catch (error) {
    $('sample').title = `no test characters: ${(error as Error).message}`;
    $('heldout-note').textContent = 'No test characters from this run\'s data: draw your own symbols.';
  }
  $('sample').addEventListener('click', () => {
    if (!samples) return;
    const shots = Math.min(MAX_SHOTS, Math.max(1, Number(($('shots') as HTMLInputElement).value) || 1));
    const task = samplePageTask(samples, demo.ways, shots, rng);
    heldOut = task.heldOut;
    boxes.forEach((b, c) => {
      b.examples = [];
      b.thumbs.replaceChildren();
      task.support.x.forEach((x, i) => task.support.y[i] === c && addExample(b, x));
      b.name = b.title.textContent = task.names[c].split('/').slice(1).join(' ').replace(/_/g, ' ');
    });
    $('acc-before').textContent = '–';
    changed();
  });

  $('adapt').addEventListener('click', async () => {
    const s = support();
    $('status').textContent = 'adapting…';
    $('adapt').setAttribute('disabled', '');
    try {
      demo.reset();
      if (heldOut) $('acc-before').textContent = pct(await demo.accuracy(heldOut, s));
      const result = await demo.adapt(s, rng.int(2 ** 31));
      $('ms-step').textContent = `${result.msPerStep.toFixed(2)} ms (${result.steps} steps, ${backend})`;
      document.body.dataset.msPerStep = String(result.msPerStep);
      document.body.dataset.innerLoop = result.innerLoop;
      $('ms-step').title = `inner loop: ${result.innerLoop}`;
      if (heldOut) $('acc-after').textContent = pct(await demo.accuracy(heldOut));
      $('status').textContent = `adapted to ${s.x.length} examples`;
      document.body.dataset.adapted = 'true';
      await classifyTest();
    } catch (error) {
      showError(error);
    } finally {
      $('adapt').removeAttribute('disabled');
    }
  });
  document.body.dataset.ready = 'true';
}

main().catch(showError);
