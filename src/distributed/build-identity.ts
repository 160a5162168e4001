/**
 * What must be equal on the coordinator and every worker for a chunk to compute the same bits:
 * the package version and the kernel build (the WebAssembly kernels and the native addon, which
 * node-gyp compiles for the machine's own CPU). Both travel with every parameter blob and job and
 * come back with every result; a worker refuses a run built otherwise, and the coordinator
 * ignores results from such a worker.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packageVersion } from '../cli/metadata.js';
import { FUSED_MLP_WASM_BASE64 } from '../kernels/fused-mlp-wasm.js';
import { FUSED_CNN_WASM_BASE64 } from '../kernels/fused-cnn-wasm.js';

export interface BuildIdentity {
  packageVersion: string;
  /** The first 16 hex digits of the SHA-256 of the kernels' bytes ("+native" when the addon is there). */
  kernelBuild: string;
}

/** Where node-gyp puts the addon, from this file in dist/src/distributed (as fused-native.ts). */
const ADDON = fileURLToPath(new URL('../../../build/Release/fused_native.node', import.meta.url));

let identity: BuildIdentity | undefined;

export function buildIdentity(): BuildIdentity {
  if (identity) return identity;
  const hash = createHash('sha256').update(FUSED_MLP_WASM_BASE64).update(FUSED_CNN_WASM_BASE64);
  let native = false;
  try {
    hash.update(readFileSync(ADDON));
    native = true;
  } catch {
    // No addon: the CNN runs from its WebAssembly build, which the hash covers.
  }
  return (identity = { packageVersion: packageVersion(), kernelBuild: hash.digest('hex').slice(0, 16) + (native ? '+native' : '') });
}

/** Why `theirs` cannot work with this process, or undefined when both builds are the same. */
export function buildMismatch(theirs: BuildIdentity, whose: string): string | undefined {
  const mine = buildIdentity();
  if (theirs.packageVersion !== mine.packageVersion) return `${whose} runs reptile ${theirs.packageVersion}, this process ${mine.packageVersion}`;
  if (theirs.kernelBuild !== mine.kernelBuild) return `${whose} has kernel build ${theirs.kernelBuild}, this process ${mine.kernelBuild}`;
  return undefined;
}
