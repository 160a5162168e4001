/**
 * Optimizer states: the step count and per-parameter slot tensors (Adam's m and v, momentum's
 * velocity), on the device or on the host, and the conversions between the two. An inner loop
 * that runs on the host (a fused kernel, a worker thread) exchanges the host form.
 */
import { cloneParams, disposeParams, paramsFromHost, paramsToHost, paramsToHostSync, type HostParams, type ParamSet } from './params.js';

export interface OptimizerState {
  /** Number of steps taken so far (Adam's bias correction uses it). */
  step: number;
  /** Per-parameter slot tensors, e.g. { m, v } for Adam, { velocity } for momentum SGD. */
  slots: Record<string, ParamSet>;
}

/** An optimizer state on the host: the step count and each slot's values per parameter. */
export interface HostOptimizerState {
  step: number;
  slots: Record<string, HostParams>;
}

export function cloneOptimizerState(state: OptimizerState): OptimizerState {
  const slots: Record<string, ParamSet> = {};
  for (const [k, v] of Object.entries(state.slots)) slots[k] = cloneParams(v);
  return { step: state.step, slots };
}

export function disposeOptimizerState(state: OptimizerState | undefined): void {
  if (state) for (const v of Object.values(state.slots)) disposeParams(v);
}

export async function stateToHost(state: OptimizerState): Promise<HostOptimizerState> {
  const slots: Record<string, HostParams> = {};
  for (const [name, params] of Object.entries(state.slots)) slots[name] = await paramsToHost(params);
  return { step: state.step, slots };
}

/** The same, synchronously (once per task or meta-iteration, never per step). */
export function stateToHostSync(state: OptimizerState): HostOptimizerState {
  const slots: Record<string, HostParams> = {};
  for (const [name, params] of Object.entries(state.slots)) slots[name] = paramsToHostSync(params);
  return { step: state.step, slots };
}

export function stateFromHost(host: HostOptimizerState): OptimizerState {
  const slots: OptimizerState['slots'] = {};
  for (const [name, params] of Object.entries(host.slots)) slots[name] = paramsFromHost(params);
  return { step: host.step, slots };
}
