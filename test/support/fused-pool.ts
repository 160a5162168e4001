/**
 * The check both fused kernels' pool tests make: a pool whose threads run the kernel gives
 * bitwise the numbers of `adaptSequence(..., 'common')` in one thread (mean parameters and mean
 * optimizer state), through the inner-loop contract.
 */
import assert from 'node:assert/strict';
import type { HostParams } from '../../src/core/params.js';
import { hostMean } from '../../src/core/host-params.js';
import { ParamStore, StateStore } from '../../src/core/param-store.js';
import type { AdaptJob } from '../../src/core/inner-loop.js';
import type { FusedLoop } from '../../src/kernels/fused-loop.js';
import type { AdaptPool } from '../../src/parallel/worker-pool.js';

export async function assertPoolEqualsOneThread(pool: AdaptPool, fused: FusedLoop, theta: HostParams, jobs: AdaptJob[]): Promise<void> {
  const start = fused.adapt(theta, undefined, jobs[0]).state;
  const local = fused.adaptSequence(theta, start, jobs, 'common');
  // Transfers (detaches) the jobs' examples: last.
  const pooled = await pool.adaptTasks(ParamStore.ofHost(theta), StateStore.ofHost(start), jobs, { mode: 'common', keep: 'each' });
  assert.deepEqual(local.mean.values, hostMean(pooled.each!.map((p) => p.host)).values);
  for (const name of Object.keys(start.slots)) {
    assert.deepEqual(local.state!.slots[name].values, hostMean(pooled.eachState!.map((s) => s.host.slots[name])).values);
    assert.deepEqual(local.state!.slots[name].values, pooled.state!.host.slots[name].values);
  }
}
