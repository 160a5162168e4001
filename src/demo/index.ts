/**
 * The demo pages' model logic (the package's "./demo" entry), browser-safe like the library it
 * builds on: a drawing to a model input, a run's adaptation settings, few-shot classification of
 * drawings, sine fits, and the sample characters' file.
 */
export * from './drawing.js';
export * from './run-settings.js';
export * from './few-shot-demo.js';
export * from './sine-demo.js';
export * from './samples.js';
