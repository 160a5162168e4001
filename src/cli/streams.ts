/**
 * The random streams of a run, all derived from its one seed, each independent of the others:
 * initialisation, per-phase task sampling and minibatch order (phase 0 is the algorithm, phase 1
 * the baseline), and fixed evaluation streams for test and validation tasks (saved as states, so every evaluation point and
 * every learner sees the same tasks).
 */
import { Rng } from '../core/rng.js';

export interface RunStreams {
  init: Rng;
  intervalEval: number[];
  finalEval: number[];
  charts: number[];
  /** Validation tasks (sine; never the test tasks' stream), for --eval-split validation and tuning. */
  validationEval: number[];
  /** Draws a finite pool of training tasks (--train-tasks). */
  pool: Rng;
  phase(p: number): { tasks: Rng; batches: Rng };
}

export function runStreams(seed: number): RunStreams {
  const root = Rng.fromSeed(seed);
  const init = root.fork();
  const intervalEval = root.fork().state();
  const finalEval = root.fork().state();
  const charts = root.fork().state();
  const phaseRoot = root.fork().state();
  // Forked after the others so that adding them changed none of the earlier streams.
  const validationEval = root.fork().state();
  const pool = root.fork();
  return {
    init,
    intervalEval,
    finalEval,
    charts,
    validationEval,
    pool,
    phase(p: number) {
      const r = Rng.fromState(phaseRoot);
      for (let i = 0; i < 2 * p; i++) r.fork();
      return { tasks: r.fork(), batches: r.fork() };
    },
  };
}
