/**
 * Time per adaptation step in the page, in headless Chromium on the wasm backend: serves a run,
 * samples N-way K-shot tasks from its Omniglot test characters, presses Adapt `--repeat` times
 * and prints the page's own measurement (total adaptation time after a host read / steps).
 *
 *   node dist/bench/browser-adapt.js RUN_DIR [--shots 1] [--repeat 5] [--backend wasm]
 */
import { startServed } from '../test/support/served.js';
import { killRunningClis } from '../test/support/cli.js';
import { openBrowser } from '../test/support/browser.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const run = args[0];
if (!run) {
  console.error('usage: node dist/bench/browser-adapt.js RUN_DIR [--shots 1] [--repeat 5] [--backend wasm]');
  process.exit(2);
}
const shots = flag('shots', '1');
const repeat = Number(flag('repeat', '5'));
const backend = flag('backend', 'wasm');

const served = await startServed(['serve', run, '--port', '0']);
const browser = await openBrowser();
try {
  const page = browser.page;
  await page.goto(`${served.url}&backend=${backend}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
  const settings = await page.textContent('#settings');
  const times: number[] = [];
  const accuracy: string[] = [];
  for (let r = 0; r < repeat; r++) {
    await page.fill('#shots', shots);
    await page.click('#sample');
    await page.click('#adapt');
    await page.waitForSelector('body[data-adapted="true"]', { timeout: 300_000 });
    times.push(Number(await page.getAttribute('body', 'data-ms-per-step')));
    accuracy.push(`${await page.textContent('#acc-before')} -> ${await page.textContent('#acc-after')}`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`${run}: ${settings}; backend ${await page.textContent('#backend')}; ${shots}-shot`);
  console.log(`ms per adaptation step: median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} (all: ${times.map((t) => t.toFixed(2)).join(', ')})`);
  console.log(`held-out accuracy before -> after: ${accuracy.join('; ')}`);
  if (browser.errors.length) console.log(`page errors: ${browser.errors.join(' | ')}`);
} finally {
  await browser.close();
  served.child.kill('SIGTERM');
  await served.done;
  killRunningClis();
}
