/** Versions and environment recorded with every run. */
import { createRequire } from 'node:module';
import { tf } from '../core/tf.js';

const require = createRequire(import.meta.url);

export function packageVersion(): string {
  return (require('../../../package.json') as { version: string }).version;
}

export function runMetadata(): Record<string, unknown> {
  return {
    packageVersion: packageVersion(),
    tfjsVersion: tf.version.tfjs,
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
    startedAt: new Date().toISOString(),
    command: process.argv.slice(2),
  };
}
