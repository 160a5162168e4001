/**
 * A parameter set or optimizer state held as tensors, as host arrays, or both: each form is made
 * from the other only when asked for. Inner loops take and return these, so that a loop on the
 * host (a fused kernel, the worker pool) never round-trips parameters through tensors while the
 * tfjs loop, evaluation and checkpoints still see tensors.
 */
import { disposeParams, paramsFromHost, paramsToHostSync, type HostParams, type ParamSet } from './params.js';
import { disposeOptimizerState, stateFromHost, stateToHostSync, type HostOptimizerState, type OptimizerState } from './optimizer-state.js';

interface Conversions<D, H> {
  toHost(device: D): H;
  toDevice(host: H): D;
  release(device: D | undefined): void;
}

/** Two forms of one value, converted lazily; the store owns its tensors unless it is a view. */
class DualStore<D, H> {
  private tensors: D | undefined;
  private hostCopy: H | undefined;
  /** Tensors the store reads but does not own (a view's): never disposed by it. */
  private borrowed: D | undefined;

  protected constructor(private readonly convert: Conversions<D, H>) {}

  /** The tensors (owned by the store: valid until the next set or dispose). */
  get device(): D {
    return (this.tensors ??= this.convert.toDevice(this.hostCopy!));
  }

  get host(): H {
    return (this.hostCopy ??= this.convert.toHost(this.tensors!));
  }

  /** Whether the host form is at hand without reading the device. */
  get onHost(): boolean {
    return this.hostCopy !== undefined;
  }

  /** Takes ownership of `value`. */
  setDevice(value: D): this {
    if (value !== this.tensors) this.dispose();
    this.tensors = value;
    this.borrowed = undefined;
    this.hostCopy = undefined;
    return this;
  }

  setHost(value: H): this {
    this.dispose();
    this.hostCopy = value;
    return this;
  }

  /** Makes this store a view of `value`. */
  protected borrow(value: D): this {
    this.tensors = this.borrowed = value;
    return this;
  }

  dispose(): void {
    if (this.tensors !== this.borrowed) this.convert.release(this.tensors);
    this.tensors = this.borrowed = this.hostCopy = undefined;
  }
}

const paramConversions: Conversions<ParamSet, HostParams> = { toHost: paramsToHostSync, toDevice: paramsFromHost, release: disposeParams };
const stateConversions: Conversions<OptimizerState, HostOptimizerState> = { toHost: stateToHostSync, toDevice: stateFromHost, release: disposeOptimizerState };

export class ParamStore extends DualStore<ParamSet, HostParams> {
  private constructor() {
    super(paramConversions);
  }

  /** A store that owns `params`. */
  static ofDevice(params: ParamSet): ParamStore {
    return new ParamStore().setDevice(params);
  }

  static ofHost(params: HostParams): ParamStore {
    return new ParamStore().setHost(params);
  }

  /** A store that reads `params` but leaves them to their owner (disposing it disposes only what it made). */
  static view(params: ParamSet): ParamStore {
    return new ParamStore().borrow(params);
  }
}

export class StateStore extends DualStore<OptimizerState, HostOptimizerState> {
  private constructor() {
    super(stateConversions);
  }

  static ofDevice(state: OptimizerState): StateStore {
    return new StateStore().setDevice(state);
  }

  static ofHost(state: HostOptimizerState): StateStore {
    return new StateStore().setHost(state);
  }
}
