/**
 * Parameter sets: named tensors in a fixed order. Every function here returns new tensors and
 * leaves its inputs alone; callers own (and dispose) what they get back.
 */
import { tf } from './tf.js';

export type ParamSet = Readonly<Record<string, tf.Tensor>>;

/** Host copy of a parameter set (for checkpoints, workers and export). */
export interface HostParams {
  names: string[];
  shapes: number[][];
  values: Float32Array[];
}

export function paramNames(params: ParamSet): string[] {
  return Object.keys(params);
}

export function mapParams(params: ParamSet, fn: (p: tf.Tensor, name: string) => tf.Tensor): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(params)) out[name] = fn(params[name], name);
  return out;
}

function requireSameNames(a: ParamSet, b: ParamSet): void {
  const na = Object.keys(a);
  const nb = Object.keys(b);
  if (na.length !== nb.length || na.some((n, i) => n !== nb[i])) {
    throw new Error(`parameter sets differ: [${na.join(', ')}] vs [${nb.join(', ')}]`);
  }
}

export function zipParams(a: ParamSet, b: ParamSet, fn: (x: tf.Tensor, y: tf.Tensor, name: string) => tf.Tensor): ParamSet {
  requireSameNames(a, b);
  return mapParams(a, (x, name) => fn(x, b[name], name));
}

/** a + t * (b - a): Reptile's interpolation of theta towards the adapted weights. */
export function interpolate(a: ParamSet, b: ParamSet, t: number): ParamSet {
  return zipParams(a, b, (x, y) => tf.tidy(() => tf.add(x, tf.mul(tf.sub(y, x), t))));
}

export function subtract(a: ParamSet, b: ParamSet): ParamSet {
  return zipParams(a, b, (x, y) => tf.sub(x, y));
}

/** Element-wise mean of several parameter sets. */
export function meanParams(sets: readonly ParamSet[]): ParamSet {
  if (sets.length === 0) throw new Error('meanParams needs at least one parameter set');
  for (const s of sets) requireSameNames(sets[0], s);
  if (sets.length === 1) return cloneParams(sets[0]);
  return mapParams(sets[0], (_, name) => tf.tidy(() => tf.div(tf.addN(sets.map((s) => s[name])), sets.length)));
}

export function cloneParams(params: ParamSet): ParamSet {
  return mapParams(params, (p) => p.clone());
}

export function disposeParams(params: ParamSet | undefined): void {
  if (params) for (const p of Object.values(params)) p.dispose();
}

export function countParams(params: ParamSet): number {
  return Object.values(params).reduce((n, p) => n + p.size, 0);
}

export function paramsToList(params: ParamSet): tf.Tensor[] {
  return Object.keys(params).map((n) => params[n]);
}

export function paramsFromList(names: readonly string[], list: readonly tf.Tensor[]): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  names.forEach((n, i) => (out[n] = list[i]));
  return out;
}

/** Reads a parameter set to the host (one sync per tensor: not for inner loops). */
export async function paramsToHost(params: ParamSet): Promise<HostParams> {
  const names = Object.keys(params);
  const values = await Promise.all(names.map(async (n) => (await params[n].data()) as Float32Array));
  return { names, shapes: names.map((n) => params[n].shape.slice()), values: values.map((v) => v.slice()) };
}

export function paramsFromHost(host: HostParams): ParamSet {
  const out: Record<string, tf.Tensor> = {};
  host.names.forEach((n, i) => (out[n] = tf.tensor(host.values[i], host.shapes[i], 'float32')));
  return out;
}

/** Reads a parameter set to the host synchronously (once per task or evaluation, never per step). */
export function paramsToHostSync(params: ParamSet): HostParams {
  const names = Object.keys(params);
  return { names, shapes: names.map((n) => params[n].shape.slice()), values: names.map((n) => (params[n].dataSync() as Float32Array).slice()) };
}
