/** Optimizer states and parameter sets to and from the host, for the adaptation workers. */
import { paramsFromHost, paramsToHost, paramsToHostSync, type HostParams } from '../core/params.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { HostOptimizerState } from './protocol.js';

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

/** The buffers of a host parameter set, for a zero-copy transfer to another thread. */
export function hostBuffers(params: HostParams): ArrayBuffer[] {
  return params.values.map((v) => v.buffer as ArrayBuffer);
}
