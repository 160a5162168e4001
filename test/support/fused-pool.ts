/**
 * The check both fused kernels' pool tests make: a pool whose threads run the kernel gives
 * bitwise the numbers of `adaptSequence(..., 'common')` in one thread (mean parameters and mean
 * optimizer state).
 */
import assert from 'node:assert/strict';
import type { HostParams } from '../../src/core/params.js';
import { hostMean } from '../../src/core/host-params.js';
import type { FusedLoop } from '../../src/kernels/fused-loop.js';
import type { AdaptJob } from '../../src/parallel/protocol.js';
import type { AdaptPool } from '../../src/parallel/worker-pool.js';

export async function assertPoolEqualsOneThread(pool: AdaptPool, fused: FusedLoop, theta: HostParams, jobs: AdaptJob[]): Promise<void> {
  const start = fused.adapt(theta, undefined, jobs[0]).state;
  const local = fused.adaptSequence(theta, start, jobs, 'common');
  const pooled = await pool.adapt(theta, start, jobs); // transfers (detaches) the jobs' examples: last
  assert.deepEqual(local.mean.values, hostMean(pooled.results.map((r) => r.phi)).values);
  for (const name of Object.keys(start.slots)) assert.deepEqual(local.state!.slots[name].values, hostMean(pooled.results.map((r) => r.state.slots[name])).values);
}
