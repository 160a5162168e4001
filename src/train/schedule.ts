/** The outer step size at meta-iteration i (0-based), annealed linearly as in the original. */
export function metaStepSize(initial: number, final: number, iteration: number, metaIters: number): number {
  return initial + ((final - initial) * iteration) / metaIters;
}
