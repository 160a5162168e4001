/**
 * Debian's Chromium driven by playwright-core, headless, with a fresh profile and nothing that
 * reaches out to the network by itself. Tests that need it skip when /usr/bin/chromium is absent,
 * or fail when REPTILE_REQUIRE_BROWSER=1 (.ci/run installs it and sets that).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requirement } from './require.js';

export const CHROMIUM = '/usr/bin/chromium';
export const noChromium = requirement('browser', existsSync(CHROMIUM), `${CHROMIUM} is not installed (apt-get install -y chromium)`);

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Errors the page threw or logged (a test asserts there are none). */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'reptile-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Draws polylines given in a canvas's own pixel coordinates with the mouse. */
export async function drawStrokes(page: Page, selector: string, strokes: number[][][]): Promise<void> {
  const canvas = page.locator(selector);
  const box = (await canvas.boundingBox())!;
  const size = await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  const at = ([x, y]: number[]) => [box.x + (x * box.width) / size[0], box.y + (y * box.height) / size[1]] as const;
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p), { steps: 4 });
    await page.mouse.up();
  }
}
