/**
 * Backend selection. wasm is the default (fast, ships inside its npm package); cpu is the
 * pure-JavaScript fallback; node (native TensorFlow, `@tensorflow/tfjs-node`) is used only if
 * the user installed it, since it cannot be installed on every machine.
 */
import { tf } from './tf.js';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'node'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

/** tfjs-node registers its backend under this name. */
const NODE_BACKEND = 'tensorflow';

async function tryLoadNodeBackend(): Promise<boolean> {
  if (tf.findBackend(NODE_BACKEND)) return true;
  // A variable specifier keeps bundlers and the type checker from requiring the package.
  const specifier = '@tensorflow/tfjs-node';
  try {
    await import(specifier);
  } catch {
    return false;
  }
  return tf.findBackend(NODE_BACKEND) !== null;
}

/**
 * Makes `choice` the active backend and returns the name of the backend that runs
 * ('wasm', 'cpu' or 'node'). `auto` prefers node if installed, then wasm, then cpu.
 */
export async function useBackend(choice: BackendChoice = 'auto'): Promise<'wasm' | 'cpu' | 'node'> {
  if (choice === 'node' || choice === 'auto') {
    if (await tryLoadNodeBackend()) {
      await tf.setBackend(NODE_BACKEND);
      return 'node';
    }
    if (choice === 'node') {
      throw new Error("backend 'node' needs @tensorflow/tfjs-node: install it with `npm install @tensorflow/tfjs-node`, or use --backend wasm");
    }
  }
  if (choice === 'wasm' || choice === 'auto') {
    if (await tf.setBackend('wasm')) return 'wasm';
    if (choice === 'wasm') throw new Error("backend 'wasm' failed to initialise; use --backend cpu");
  }
  if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' failed to initialise");
  return 'cpu';
}

/** The active backend under the names `useBackend` takes. */
export function activeBackend(): string {
  const name = tf.getBackend();
  return name === NODE_BACKEND ? 'node' : name;
}
