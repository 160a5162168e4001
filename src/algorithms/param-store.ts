/**
 * A parameter set or optimizer state that lives as tensors, as host arrays, or both: each form is
 * made from the other only when asked for. Reptile keeps theta and its inner optimizer state here,
 * so that an inner loop on the host (the fused MLP loop, the worker pool) never round-trips them
 * through tensors, while evaluation and checkpoints still see tensors.
 */
import { disposeParams, paramsFromHost, paramsToHostSync, type HostParams, type ParamSet } from '../core/params.js';
import { disposeOptimizerState, type OptimizerState } from '../nn/optimizers.js';
import type { HostOptimizerState } from '../parallel/protocol.js';
import { stateFromHost, stateToHostSync } from '../parallel/host-state.js';

export class ParamStore {
  private tensors: ParamSet | undefined;
  private hostCopy: HostParams | undefined;

  constructor(initial: ParamSet) {
    this.tensors = initial;
  }

  /** The tensors (owned by the store: valid until the next set or dispose). */
  get device(): ParamSet {
    return (this.tensors ??= paramsFromHost(this.hostCopy!));
  }

  get host(): HostParams {
    return (this.hostCopy ??= paramsToHostSync(this.tensors!));
  }

  /** Takes ownership of `params`. */
  setDevice(params: ParamSet): void {
    if (params !== this.tensors) disposeParams(this.tensors);
    this.tensors = params;
    this.hostCopy = undefined;
  }

  setHost(params: HostParams): void {
    disposeParams(this.tensors);
    this.tensors = undefined;
    this.hostCopy = params;
  }

  dispose(): void {
    disposeParams(this.tensors);
    this.tensors = undefined;
    this.hostCopy = undefined;
  }
}

/** The same for an optimizer state, which may also be absent (not started yet). */
export class StateStore {
  private tensors: OptimizerState | undefined;
  private hostCopy: HostOptimizerState | undefined;

  get device(): OptimizerState | undefined {
    if (!this.tensors && this.hostCopy) this.tensors = stateFromHost(this.hostCopy);
    return this.tensors;
  }

  get host(): HostOptimizerState | undefined {
    if (!this.hostCopy && this.tensors) this.hostCopy = stateToHostSync(this.tensors);
    return this.hostCopy;
  }

  /** Takes ownership of `state` (undefined: no state). */
  setDevice(state: OptimizerState | undefined): void {
    if (state !== this.tensors) disposeOptimizerState(this.tensors);
    this.tensors = state;
    this.hostCopy = undefined;
  }

  setHost(state: HostOptimizerState | undefined): void {
    disposeOptimizerState(this.tensors);
    this.tensors = undefined;
    this.hostCopy = state;
  }

  dispose(): void {
    this.setHost(undefined);
  }
}
