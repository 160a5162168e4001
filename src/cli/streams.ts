/**
 * The random streams of a run, all derived from its one seed, each independent of the others:
 * initialisation, per-phase task sampling and minibatch order (phase 0 is the algorithm, phase 1
 * the baseline), and fixed evaluation streams (saved as states, so every evaluation point and
 * every learner sees the same tasks).
 */
import { Rng } from '../core/rng.js';

export interface RunStreams {
  init: Rng;
  intervalEval: number[];
  finalEval: number[];
  charts: number[];
  phase(p: number): { tasks: Rng; batches: Rng };
}

export function runStreams(seed: number): RunStreams {
  const root = Rng.fromSeed(seed);
  const init = root.fork();
  const intervalEval = root.fork().state();
  const finalEval = root.fork().state();
  const charts = root.fork().state();
  const phaseRoot = root.fork().state();
  return {
    init,
    intervalEval,
    finalEval,
    charts,
    phase(p: number) {
      const r = Rng.fromState(phaseRoot);
      for (let i = 0; i < 2 * p; i++) r.fork();
      return { tasks: r.fork(), batches: r.fork() };
    },
  };
}
