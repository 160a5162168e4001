/** Writes a chart as SVG and PNG: into a run directory's charts/ folder, or any folder. */
import { join } from 'node:path';
import { RUN_FILES, type RunDir } from '../io/run-dir.js';
import { writeFileAtomic } from '../io/files.js';
import { renderChartSvg, svgToPng, type ChartOptions, type ChartPanel } from '../io/charts.js';

export async function writeChart(runDir: RunDir, name: string, panels: ChartPanel[], options: ChartOptions): Promise<void> {
  await writeChartFiles(runDir.file(RUN_FILES.charts), name, panels, options);
}

/** Writes `<dir>/<name>.svg` and `<dir>/<name>.png`. */
export async function writeChartFiles(dir: string, name: string, panels: ChartPanel[], options: ChartOptions): Promise<void> {
  const svg = await renderChartSvg(panels, options);
  await writeFileAtomic(join(dir, `${name}.svg`), svg);
  await writeFileAtomic(join(dir, `${name}.png`), await svgToPng(svg));
}
