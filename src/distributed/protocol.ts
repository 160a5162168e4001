/**
 * What the coordinator (broker-loop.ts) and the workers (broker-worker.ts) exchange through Redis.
 * BullMQ job data is JSON: the chunk's examples ride in it as base64 of the binary encoding
 * (codec.ts); parameters are one binary blob per meta-iteration under their own key, fetched
 * once per version by each worker; results are one binary value per chunk.
 */
import type { HostParams } from '../core/params.js';
import type { HostOptimizerState } from '../core/optimizer-state.js';
import type { AdaptRecipe, ChunkResult, SplittableMode } from '../parallel/protocol.js';
import type { BuildIdentity } from './build-identity.js';
import type { ChunkAddress } from './keys.js';

/** The parameter blob of one version: written once, with an expiry. */
export interface ParamsBlob extends BuildIdentity {
  recipe: AdaptRecipe;
  theta: HostParams;
  /** Mode 'common': where every task's inner optimizer starts. */
  state?: HostOptimizerState;
  mode: SplittableMode;
}

export interface ChunkJobData extends ChunkAddress, BuildIdentity {
  prefix: string;
  /** Seconds the parameters and results live in Redis. */
  expirySeconds: number;
  /** The ParamsBlob's key. */
  params: string;
  /** base64 of the encoded AdaptJob[] of the chunk. */
  tasks: string;
  /** Asynchronous mode: the job stays useful until the current version is this many ahead. */
  maxStaleness?: number;
}

/** A chunk's result as a worker writes it (SET NX: the first one stays). */
export interface ChunkResultBlob extends BuildIdentity {
  result: ChunkResult;
  /** Which worker computed it (for logs). */
  worker: string;
}
