/**
 * Progress reporting: a progress bar (iteration, iterations/s, ETA, last evaluation) on a
 * terminal, plain log lines otherwise (CI logs, pipes).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(iteration: number): void;
  evaluation(iteration: number, text: string): void;
  stop(): void;
}

export function createProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const start = performance.now();
  const rate = (iteration: number) => iteration / Math.max(1e-9, (performance.now() - start) / 1000);
  if (!stream.isTTY) {
    return {
      update() {},
      evaluation(iteration, text) {
        stream.write(`${label} ${iteration}/${total} (${rate(iteration).toFixed(1)} it/s) ${text}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {rate} it/s | ETA {eta_formatted} | {last}`, hideCursor: true, stream, etaBuffer: 200 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: '0', last: '' });
  let lastRedraw = 0;
  let last = '';
  return {
    update(iteration) {
      const now = performance.now();
      if (now - lastRedraw < 100 && iteration < total) return;
      lastRedraw = now;
      bar.update(iteration, { rate: rate(iteration).toFixed(1), last });
    },
    evaluation(iteration, text) {
      last = text;
      bar.update(iteration, { rate: rate(iteration).toFixed(1), last });
    },
    stop() {
      bar.stop();
    },
  };
}
