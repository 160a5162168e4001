/**
 * Published settings, each as every hyperparameter the paper used (openai/supervised-reptile's
 * README commands for Omniglot). `--preset` applies one; config.json records it and the values.
 */
import type { TrainConfig } from './config.js';

type Settings = Partial<TrainConfig>;

const omniglot5way: Settings = {
  classes: 5, trainShots: 10, innerBatch: 10, innerIters: 5, learningRate: 0.001, metaStep: 1, metaStepFinal: 0,
  metaBatch: 5, metaIters: 100000, evalBatch: 5, evalIters: 50, model: 'conv', innerOptimizer: 'adam', adamBeta1: 0,
};
const omniglot20way: Settings = {
  classes: 20, trainShots: 10, innerBatch: 20, innerIters: 10, learningRate: 0.0005, metaStep: 1, metaStepFinal: 0,
  metaBatch: 5, metaIters: 200000, evalBatch: 10, evalIters: 50, model: 'conv', innerOptimizer: 'adam', adamBeta1: 0,
};

const base: Record<string, { benchmark: TrainConfig['benchmark']; settings: Settings }> = {
  'omniglot-5w1s': { benchmark: 'omniglot', settings: { ...omniglot5way, shots: 1 } },
  'omniglot-5w5s': { benchmark: 'omniglot', settings: { ...omniglot5way, shots: 5 } },
  'omniglot-20w1s': { benchmark: 'omniglot', settings: { ...omniglot20way, shots: 1 } },
  'omniglot-20w5s': { benchmark: 'omniglot', settings: { ...omniglot20way, shots: 5 } },
};

export const PRESETS: Record<string, { benchmark: TrainConfig['benchmark']; settings: Settings }> = Object.fromEntries(
  Object.entries(base).flatMap(([name, p]) => [
    [name, { benchmark: p.benchmark, settings: { ...p.settings, transductive: false } }],
    [`${name}-transductive`, { benchmark: p.benchmark, settings: { ...p.settings, transductive: true } }],
  ]),
);
