// The demo page and the dashboard, built from web/ (which imports the library's src/) into dist/page.
import { defineConfig } from 'vite';
import { resolve } from 'node:path';

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  // Relative asset URLs: the built folder works under any path of any static web server.
  base: './',
  logLevel: 'warn',
  build: {
    outDir: resolve(here, '..', 'dist', 'page'),
    emptyOutDir: true,
    // tfjs and vega are large; the page is a demo, not a landing page.
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: {
        index: resolve(here, 'index.html'),
        sine: resolve(here, 'sine.html'),
        dashboard: resolve(here, 'dashboard.html'),
      },
    },
  },
});
