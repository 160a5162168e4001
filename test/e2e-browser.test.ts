/**
 * End to end in a real browser (Debian's Chromium, headless, wasm backend): a run trained in
 * Node is served by `reptile serve`; the test draws five clearly distinct symbols on the class
 * pads with the mouse, adapts, and checks that new drawings of each are classified as the drawn
 * class; samples Omniglot test characters and sees accuracy before/after and time per step; fits
 * clicked sine points; and watches the dashboard of `reptile train --dashboard` grow while the run
 * trains (held at two evaluations by a test hook). Screenshots go to $REPTILE_SCREENSHOTS
 * (default: the test's temporary directory).
 * Skipped only when Chromium or the Omniglot archives are absent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliWith, killRunningClis, startCli } from './support/cli.js';
import { startServed, waitForOutput } from './support/served.js';
import { drawStrokes, noChromium, openBrowser, type Browser } from './support/browser.js';
import { OMNIGLOT_DATA as DATA, omniglotRequirement } from './support/require.js';

const noData = omniglotRequirement();

let root: string;
let shots: string;
let browser: Browser | undefined;
const { runOk } = cliWith(() => ({ env: { REPTILE_CACHE_DIR: join(root, 'cache'), REPTILE_DEBUG: '' } }));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'reptile-e2e-'));
  shots = process.env.REPTILE_SCREENSHOTS ?? join(root, 'screenshots');
  await mkdir(shots, { recursive: true });
  if (!noChromium) browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  killRunningClis();
  await rm(root, { recursive: true, force: true });
});

/** Five symbols far apart (a bar, a post, a ring, a cross, a corner), as strokes on a 105x105 pad. */
function symbol(kind: number, jitter: number): number[][][] {
  const j = (p: number[]) => [p[0] + jitter * 3, p[1] - jitter * 2];
  const ring = Array.from({ length: 25 }, (_, i) => [52 + 30 * Math.cos((2 * Math.PI * i) / 24), 52 + 30 * Math.sin((2 * Math.PI * i) / 24)]);
  const shapes = [
    [[[15, 52], [90, 52]]],
    [[[52, 15], [52, 90]]],
    [ring],
    [[[20, 20], [85, 85]], [[85, 20], [20, 85]]],
    [[[20, 20], [20, 85], [85, 85]]],
  ];
  return shapes[kind].map((stroke) => stroke.map(j));
}

async function checkPng(file: string): Promise<void> {
  const bytes = await readFile(file);
  assert.ok(bytes.length > 1000 && bytes.subarray(1, 4).toString() === 'PNG', file);
}

test('Omniglot: draw five symbols, adapt in the page (wasm), new drawings are classified as drawn; sampled test characters show accuracy and time per step', { skip: noChromium || noData }, async () => {
  const run = join(root, 'runs', 'omniglot-mlp');
  await runOk(['train', 'omniglot', '--data', DATA, '--model', 'mlp', '--meta-iters', '10', '--eval-interval', '0', '--eval-samples', '4', '--baseline', 'none', '--out', run]);
  const served = await startServed(['serve', run, '--port', '0'], { env: { REPTILE_CACHE_DIR: join(root, 'cache') } });
  const page = browser!.page;
  await page.goto(`${served.url}&backend=wasm`, { timeout: 120_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
  assert.equal(await page.textContent('#backend'), 'wasm');
  assert.match((await page.textContent('#settings'))!, /MLP, 5-way; adaptation: 50 steps of adam \(learning rate 0\.001\)/);

  for (let c = 0; c < 5; c++) {
    for (const jitter of [-1, 0, 1]) {
      await drawStrokes(page, `.class[data-class="${c}"] canvas.pad`, symbol(c, jitter));
      await page.click(`.class[data-class="${c}"] button:text("Add")`);
    }
    assert.equal(await page.locator(`.class[data-class="${c}"] .thumbs canvas`).count(), 3);
  }
  await page.click('#adapt');
  await page.waitForSelector('body[data-adapted="true"]', { timeout: 120_000 });
  assert.match((await page.textContent('#ms-step'))!, /^\d+\.\d+ ms \(50 steps, wasm\)$/);
  assert.equal(await page.getAttribute('body', 'data-inner-loop'), 'fused-mlp');

  for (let c = 0; c < 5; c++) {
    await page.click('#test-clear');
    const strokes = symbol(c, 0.5);
    await drawStrokes(page, '#test-pad', strokes);
    await page.waitForSelector(`#prediction[data-count="${strokes.length}"]`);
    assert.equal(await page.getAttribute('#prediction', 'data-class'), String(c), `symbol ${c}`);
    if (c === 2) await page.screenshot({ path: join(shots, 'browser-omniglot-drawn.png'), fullPage: true });
  }
  await checkPng(join(shots, 'browser-omniglot-drawn.png'));

  // Test characters the model never saw, from the run's own split.
  await page.fill('#shots', '5');
  await page.click('#sample');
  await page.click('#adapt');
  await page.waitForSelector('body[data-adapted="true"]');
  const before = (await page.textContent('#acc-before'))!;
  const afterText = (await page.textContent('#acc-after'))!;
  assert.match(before, /^\d+\.\d%$/);
  assert.match(afterText, /^\d+\.\d%$/);
  await page.screenshot({ path: join(shots, 'browser-omniglot-sampled.png'), fullPage: true });
  assert.deepEqual(browser!.errors, []);
  served.child.kill('SIGTERM');
  assert.equal((await served.done).code, 0);
});

test('Omniglot CNN: the page adapts a conv run (the fused CNN kernel\'s wasm build) and classifies a drawing, without errors', { skip: noChromium || noData }, async (t) => {
  const run = join(root, 'runs', 'omniglot-conv');
  await runOk(['train', 'omniglot', '--data', DATA, '--model', 'conv', '--meta-iters', '2', '--eval-interval', '0', '--eval-samples', '2', '--baseline', 'none', '--out', run]);
  const served = await startServed(['serve', run, '--port', '0'], { env: { REPTILE_CACHE_DIR: join(root, 'cache') } });
  const page = browser!.page;
  await page.goto(`${served.url}&backend=wasm`, { timeout: 120_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
  assert.match((await page.textContent('#settings'))!, /CNN/);
  for (let c = 0; c < 5; c++) {
    await drawStrokes(page, `.class[data-class="${c}"] canvas.pad`, symbol(c, 0));
    await page.click(`.class[data-class="${c}"] button:text("Add")`);
  }
  await page.click('#adapt');
  await page.waitForSelector('body[data-adapted="true"]', { timeout: 120_000 });
  const msStep = (await page.textContent('#ms-step'))!;
  assert.match(msStep, /^\d+\.\d+ ms \(50 steps, wasm\)$/);
  t.diagnostic(`CNN adaptation in the page: ${msStep} per step`);
  assert.equal(await page.getAttribute('body', 'data-inner-loop'), 'fused-cnn-wasm');
  const strokes = symbol(3, 0.5);
  await drawStrokes(page, '#test-pad', strokes);
  await page.waitForSelector(`#prediction[data-count="${strokes.length}"]`);
  assert.match((await page.getAttribute('#prediction', 'data-class'))!, /^[0-4]$/);
  assert.deepEqual(browser!.errors, []);
  served.child.kill('SIGTERM');
  assert.equal((await served.done).code, 0);
});

test('sine: a random task\'s points are fitted from the meta-learned and a random start, step by step', { skip: noChromium }, async () => {
  const run = join(root, 'runs', 'sine');
  await runOk(['train', 'sine', '--meta-iters', '300', '--eval-interval', '0', '--eval-samples', '4', '--baseline', 'none', '--out', run]);
  const served = await startServed(['serve', run, '--port', '0']);
  const page = browser!.page;
  await page.goto(`${served.url}&backend=wasm`, { timeout: 120_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
  await page.click('#random');
  await page.waitForSelector('body[data-fitted="10"]');
  await page.locator('#plot').click({ position: { x: 100, y: 100 } });
  await page.waitForSelector('body[data-fitted="11"]');
  assert.equal(await page.textContent('#step-label'), '32');
  await page.screenshot({ path: join(shots, 'browser-sine.png'), fullPage: true });
  await checkPng(join(shots, 'browser-sine.png'));
  assert.deepEqual(browser!.errors, []);
  served.child.kill('SIGTERM');
  assert.equal((await served.done).code, 0);
});

test('dashboard: reptile train --dashboard shows a curve that grows while the run trains', { skip: noChromium }, async () => {
  const run = join(root, 'runs', 'sine-live');
  // The run holds after its evaluations at 300 and 600 (the test hook REPTILE_TEST_PAUSE_AT,
  // docs/cli.md) until the test writes the release file: the page sees one point, then two,
  // while the run is still training, however fast or slow the machine.
  const release = join(root, 'release-sine-live');
  const training = startCli(['train', 'sine', '--meta-iters', '900', '--eval-interval', '300', '--eval-interval-samples', '5', '--eval-samples', '10', '--baseline', 'none', '--dashboard', '0', '--out', run], {
    env: { REPTILE_TEST_PAUSE_AT: 'evaluation:0:300,evaluation:0:600', REPTILE_TEST_PAUSE_FILE: release },
  });
  const pausedAt = (iteration: number) => waitForOutput(training.child, new RegExp(`test hook: paused at evaluation:0:${iteration} `));
  const [served, first] = [waitForOutput(training.child, /dashboard: serving (http:\/\/\S+)/), pausedAt(300)];
  first.catch(() => {}); // awaited below; if the run ends early, the awaited `served` reports it first
  const url = (await served)[1];
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/dashboard\.html\?run=sine-live$/);
  const page = browser!.page;
  await page.goto(url, { timeout: 120_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
  const points = async () => Number(await page.getAttribute('#chart', 'data-points'));
  const atLeast = (n: number) => page.waitForFunction((k) => Number(document.querySelector('#chart')!.getAttribute('data-points')) >= k, n, { timeout: 120_000 });
  await first;
  await atLeast(1);
  assert.equal(await points(), 1, 'held after the evaluation at 300: one point');
  assert.equal(await page.getAttribute('tr[data-run="sine-live"]', 'data-state'), 'running');
  const second = pausedAt(600);
  await writeFile(release, '');
  await second;
  await atLeast(2);
  assert.equal(await points(), 2, 'held after the evaluation at 600: the curve grew to two points');
  assert.ok(await page.locator('#chart svg path').count() > 0, 'a curve is drawn');
  assert.equal(await page.getAttribute('tr[data-run="sine-live"]', 'data-state'), 'running');
  await page.screenshot({ path: join(shots, 'browser-dashboard.png'), fullPage: true });
  await writeFile(release, '');
  const result = await training.done;
  assert.equal(result.code, 0, result.stderr);
  await checkPng(join(shots, 'browser-dashboard.png'));
  assert.deepEqual(browser!.errors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource/.test(e)), []);
});

test('dashboard: a page opened before its run has written anything waits for the run, then shows it', { skip: noChromium }, async () => {
  // `train --dashboard` prints its address before the run directory exists (the server starts
  // first, so that a busy port fails before anything is trained); a page opened at once used to
  // find no run to follow and stayed empty. Here the run does not exist at all when the page opens.
  const runs = join(root, 'runs-later');
  await mkdir(runs, { recursive: true });
  const served = await startServed(['dashboard', runs, '--port', '0']);
  try {
    const page = browser!.page;
    await page.goto(`${served.url.replace(/dashboard\.html.*$/, '').replace(/\/?$/, '/')}dashboard.html?run=later`, { timeout: 120_000 });
    await runOk(['train', 'sine', '--meta-iters', '200', '--eval-interval', '100', '--eval-interval-samples', '5', '--eval-samples', '10', '--baseline', 'none', '--out', join(runs, 'later')]);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector('#chart')!.getAttribute('data-points')) >= 2, undefined, { timeout: 120_000 });
    // The page may have found the run while it trained: it follows it to its end.
    await page.waitForSelector('tr[data-run="later"][data-state="finished"]', { timeout: 120_000 });
  } finally {
    served.child.kill();
  }
});
