/**
 * A parameter set or optimizer state held as tensors, as host arrays, or both: each form is made
 * from the other only when asked for. Inner loops take and return these, so that a loop on the
 * host (a fused kernel, the worker pool) never round-trips parameters through tensors while the
 * tfjs loop, evaluation and checkpoints still see tensors.
 */
import { disposeParams, paramsFromHost, paramsToHostSync, type HostParams, type ParamSet } from './params.js';
import { disposeOptimizerState, stateFromHost, stateToHostSync, type HostOptimizerState, type OptimizerState } from './optimizer-state.js';

/** Two forms of one value, converted lazily; the store owns its tensors. */
abstract class DualStore<D, H> {
  protected tensors: D | undefined;
  protected hostCopy: H | undefined;
  /** Tensors the store reads but does not own (see `view`): never disposed by it. */
  protected borrowed: D | undefined;

  protected abstract toHost(device: D): H;
  protected abstract toDevice(host: H): D;
  protected abstract release(device: D | undefined): void;

  /** The tensors (owned by the store: valid until the next set or dispose). */
  get device(): D {
    if (this.tensors === undefined) this.tensors = this.toDevice(this.hostCopy!);
    return this.tensors;
  }

  get host(): H {
    if (this.hostCopy === undefined) this.hostCopy = this.toHost(this.tensors!);
    return this.hostCopy;
  }

  /** Whether the host form is at hand without reading the device. */
  get onHost(): boolean {
    return this.hostCopy !== undefined;
  }

  private drop(): void {
    if (this.tensors !== this.borrowed) this.release(this.tensors);
    this.borrowed = undefined;
  }

  /** Takes ownership of `value`. */
  setDevice(value: D): this {
    if (value !== this.tensors) this.drop();
    this.tensors = value;
    this.borrowed = undefined;
    this.hostCopy = undefined;
    return this;
  }

  setHost(value: H): this {
    this.drop();
    this.tensors = undefined;
    this.hostCopy = value;
    return this;
  }

  dispose(): void {
    this.drop();
    this.tensors = undefined;
    this.hostCopy = undefined;
  }
}

export class ParamStore extends DualStore<ParamSet, HostParams> {
  /** A store that owns `params`. */
  static ofDevice(params: ParamSet): ParamStore {
    return new ParamStore().setDevice(params);
  }

  static ofHost(params: HostParams): ParamStore {
    return new ParamStore().setHost(params);
  }

  /** A store that reads `params` but leaves them to their owner (disposing it disposes only what it made). */
  static view(params: ParamSet): ParamStore {
    const store = new ParamStore();
    store.tensors = store.borrowed = params;
    return store;
  }

  protected toHost(device: ParamSet): HostParams {
    return paramsToHostSync(device);
  }

  protected toDevice(host: HostParams): ParamSet {
    return paramsFromHost(host);
  }

  protected release(device: ParamSet | undefined): void {
    disposeParams(device);
  }
}

export class StateStore extends DualStore<OptimizerState, HostOptimizerState> {
  static ofDevice(state: OptimizerState): StateStore {
    return new StateStore().setDevice(state);
  }

  static ofHost(state: HostOptimizerState): StateStore {
    return new StateStore().setHost(state);
  }

  protected toHost(device: OptimizerState): HostOptimizerState {
    return stateToHostSync(device);
  }

  protected toDevice(host: HostOptimizerState): OptimizerState {
    return stateFromHost(host);
  }

  protected release(device: OptimizerState | undefined): void {
    disposeOptimizerState(device);
  }
}
