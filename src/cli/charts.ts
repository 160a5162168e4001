/** Writes a chart into a run directory's charts/ folder as SVG and PNG. */
import { RUN_FILES, type RunDir } from '../io/run-dir.js';
import { writeFileAtomic } from '../io/files.js';
import { renderChartSvg, svgToPng, type ChartOptions, type ChartPanel } from '../io/charts.js';

export async function writeChart(runDir: RunDir, name: string, panels: ChartPanel[], options: ChartOptions): Promise<void> {
  const svg = await renderChartSvg(panels, options);
  await writeFileAtomic(runDir.file(`${RUN_FILES.charts}/${name}.svg`), svg);
  await writeFileAtomic(runDir.file(`${RUN_FILES.charts}/${name}.png`), await svgToPng(svg));
}
