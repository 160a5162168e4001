/**
 * Sine-wave regression as in the Reptile paper's Figure 1 (and its sine demo):
 * f(x) = A sin(x + b), A ~ U[0.1, 5], b ~ U[0, 2 pi], on 50 evenly spaced x in [-5, 5].
 * Meta-training tasks offer `trainPoints` of the grid (all 50 by default); an evaluation task
 * gives `shots` random grid points (drawn with replacement, as the demo does) and is scored on
 * the whole grid.
 */
import type { Rng } from '../core/rng.js';
import type { EvalTask, Examples, TaskDistribution } from './task.js';

export interface SineOptions {
  /** Points of a meta-training task (chosen from the grid without replacement). Default 50. */
  trainPoints?: number;
  /** Points given at evaluation. Default 10. */
  shots?: number;
  gridSize?: number;
  amplitude?: [number, number];
  phase?: [number, number];
  xRange?: [number, number];
}

export interface SineTask {
  amplitude: number;
  phase: number;
}

export class SineDistribution implements TaskDistribution {
  readonly name = 'sine';
  readonly kind = 'regression' as const;
  readonly inputShape = [1];
  readonly outputSize = 1;
  readonly targetShape = [1];
  readonly grid: Float32Array;
  readonly trainPoints: number;
  readonly shots: number;
  private readonly amplitude: [number, number];
  private readonly phase: [number, number];

  constructor(options: SineOptions = {}) {
    const gridSize = options.gridSize ?? 50;
    const [lo, hi] = options.xRange ?? [-5, 5];
    this.grid = Float32Array.from({ length: gridSize }, (_, i) => lo + ((hi - lo) * i) / (gridSize - 1));
    this.trainPoints = options.trainPoints ?? gridSize;
    this.shots = options.shots ?? 10;
    this.amplitude = options.amplitude ?? [0.1, 5];
    this.phase = options.phase ?? [0, 2 * Math.PI];
    if (!(this.trainPoints >= 1 && this.trainPoints <= gridSize)) {
      throw new RangeError(`sine train points must be in [1, ${gridSize}], got ${this.trainPoints}`);
    }
    if (!(this.shots >= 1)) throw new RangeError(`sine shots must be >= 1, got ${this.shots}`);
  }

  sampleTask(rng: Rng): SineTask {
    // Phase first, then amplitude: the order the demo draws them.
    const phase = rng.uniform(...this.phase);
    const amplitude = rng.uniform(...this.amplitude);
    return { amplitude, phase };
  }

  examples(task: SineTask, indices: readonly number[]): Examples {
    const x = Float32Array.from(indices, (i) => this.grid[i]);
    const y = Float32Array.from(x, (v) => task.amplitude * Math.sin(v + task.phase));
    return { count: indices.length, x, y };
  }

  sampleTrainTask(rng: Rng): Examples {
    const task = this.sampleTask(rng);
    const n = this.grid.length;
    const indices = this.trainPoints === n ? Array.from({ length: n }, (_, i) => i) : rng.choice(n, this.trainPoints);
    return this.examples(task, indices);
  }

  sampleEvalTask(rng: Rng): EvalTask {
    const task = this.sampleTask(rng);
    const n = this.grid.length;
    return {
      support: this.examples(task, rng.choice(n, this.shots, true)),
      query: this.examples(task, Array.from({ length: n }, (_, i) => i)),
      describe: { amplitude: task.amplitude, phase: task.phase },
    };
  }
}
