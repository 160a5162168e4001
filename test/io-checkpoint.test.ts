/**
 * Checkpoints (src/io/checkpoint.ts): a save/load round trip is bitwise exact for parameters,
 * optimizer states (including an absent one), random-stream states and the job's JSON state; a
 * truncated, corrupted, foreign or missing file is a one-line error naming it; writes are atomic
 * (a concurrent reader and a writer killed at any moment only ever see a whole checkpoint, and a
 * failed write leaves the previous one alone); nothing leaks tensors.
 */
import { after, before, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fsp, { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams, type ParamSet } from '../src/core/params.js';
import { adam, disposeOptimizerState, sgd, type OptimizerState } from '../src/nn/optimizers.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/io/checkpoint.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = resolve(HERE, '../src');

let dir: string;
let n = 0;

async function fresh(): Promise<string> {
  const d = join(dir, `case-${n++}`);
  await mkdir(d);
  return d;
}

before(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'reptile-io-checkpoint-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Float32 values chosen to catch any lossy step: signed zero, infinities, NaN, subnormals, extremes. */
const AWKWARD = [0, -0, 1, -1, 0.1, 1 / 3, Infinity, -Infinity, NaN, 1.4e-45, -1.17549435e-38, 3.4028234e38, 123456.789, -7.25e-12];

function awkwardValues(size: number, salt: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = i < AWKWARD.length ? AWKWARD[(i + salt) % AWKWARD.length] : Math.sin(1.7 * i + salt) * 10 ** ((i % 9) - 4);
  return out;
}

/** Parameters with names containing slashes, a scalar, a vector and matrices, in a non-alphabetical order. */
function makeParams(salt: number): ParamSet {
  return {
    'layer1/kernel': tf.tensor(awkwardValues(3 * 5, salt), [3, 5], 'float32'),
    'layer1/bias': tf.tensor(awkwardValues(5, salt + 1), [5], 'float32'),
    'a/out/kernel': tf.tensor(awkwardValues(5 * 2, salt + 2), [5, 2], 'float32'),
    scale: tf.tensor(awkwardValues(1, salt + 3), [], 'float32'),
    'conv/w': tf.tensor(awkwardValues(2 * 2 * 1 * 3, salt + 4), [2, 2, 1, 3], 'float32'),
  };
}

/** Bit patterns of every tensor, in the set's order, with shapes. */
async function bits(params: ParamSet): Promise<{ name: string; shape: number[]; dtype: string; bits: number[] }[]> {
  const out = [];
  for (const [name, t] of Object.entries(params)) {
    const data = (await t.data()) as Float32Array;
    out.push({ name, shape: t.shape.slice(), dtype: t.dtype, bits: Array.from(new Uint32Array(Float32Array.from(data).buffer)) });
  }
  return out;
}

async function stateBits(state: OptimizerState | undefined) {
  if (!state) return state;
  const slots: Record<string, unknown> = {};
  for (const [slot, set] of Object.entries(state.slots)) slots[slot] = await bits(set);
  return { step: state.step, slotOrder: Object.keys(state.slots), slots };
}

async function checkpointBits(c: Checkpoint) {
  const optimizerStates: Record<string, unknown> = {};
  for (const [key, state] of Object.entries(c.optimizerStates)) optimizerStates[key] = await stateBits(state);
  return {
    iteration: c.iteration,
    params: await bits(c.params),
    optimizerKeys: Object.keys(c.optimizerStates),
    optimizerStates,
    rngStates: c.rngStates,
    extra: c.extra,
  };
}

function disposeCheckpoint(c: Checkpoint): void {
  disposeParams(c.params);
  for (const state of Object.values(c.optimizerStates)) disposeOptimizerState(state);
}

/** Adam states after a few real steps (so m, v and step are non-trivial), plus SGD ones. */
function makeCheckpoint(): Checkpoint {
  const params = makeParams(0);
  const opt = adam({ learningRate: 0.01 });
  let theta = makeParams(5);
  let state = opt.init(theta);
  for (let s = 0; s < 3; s++) {
    const grads = makeParams(7 + s);
    // Infinite/NaN gradients would make m and v all-NaN: use finite, varied gradients.
    const finite: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) finite[k] = tf.tidy(() => tf.sin(tf.where(tf.isFinite(g), g, tf.zerosLike(g))));
    disposeParams(grads);
    const next = opt.step(theta, finite, state);
    disposeParams(finite);
    disposeParams(theta);
    disposeOptimizerState(state);
    theta = next.params;
    state = next.state;
  }
  disposeParams(theta);
  const momentum = sgd({ learningRate: 0.1, momentum: 0.9 });
  const velocityState = momentum.init(params);
  const plain = sgd({ learningRate: 0.1 }).init(params);
  const tasks = Rng.fromSeed(11);
  tasks.float();
  return {
    iteration: 1234,
    params,
    optimizerStates: { inner: state, outer: undefined, momentum: { ...velocityState, step: 17 }, plain: { ...plain, step: 2 } },
    rngStates: { tasks: tasks.state(), batches: Rng.fromSeed(2 ** 40 + 3).state() },
    extra: { phase: 1, finished: [{ algorithm: 'reptile', eval: { mseAfter: 0.1 + 0.2, tasks: 20 } }], lossSum: 1e-300 * 3, lossCount: 0, note: 'ünïcode ✓ "quoted"\n', list: [1, [2, { deep: null }]], flag: false },
  };
}

describe('saveCheckpoint / loadCheckpoint', () => {
  test('round trip is bitwise exact: params (order, names, shapes), Adam m/v/step, absent and slot-less states, rng states, extra JSON', async () => {
    const d = await fresh();
    const original = makeCheckpoint();
    const path = join(d, 'state.bin');
    await saveCheckpoint(path, original);
    const loaded = await loadCheckpoint(path);
    try {
      const want = await checkpointBits(original);
      const got = await checkpointBits(loaded);
      assert.deepEqual(got, want);
      // Explicit checks of what the deep comparison covers, so a failure says what went wrong.
      assert.equal(loaded.optimizerStates.outer, undefined, 'an absent optimizer state stays absent');
      assert.ok('outer' in loaded.optimizerStates, 'an absent optimizer state keeps its key');
      assert.deepEqual(Object.keys(loaded.optimizerStates.inner!.slots).sort(), ['m', 'v']);
      assert.equal(loaded.optimizerStates.inner!.step, 3);
      assert.deepEqual(loaded.optimizerStates.plain, { step: 2, slots: {} });
      assert.deepEqual(Object.keys(loaded.params), ['layer1/kernel', 'layer1/bias', 'a/out/kernel', 'scale', 'conv/w']);
      assert.ok(Number.isNaN((await loaded.params['layer1/kernel'].data())[8]), 'NaN survives');
      assert.ok(Object.is((await loaded.params['layer1/kernel'].data())[1], -0), '-0 survives');
      // The restored random streams continue exactly where the saved ones would.
      const a = Rng.fromState(original.rngStates.tasks);
      const b = Rng.fromState(loaded.rngStates.tasks);
      for (let i = 0; i < 5; i++) assert.equal(b.float(), a.float());
      // Saving what was loaded gives the same bytes.
      const again = join(d, 'again.bin');
      await saveCheckpoint(again, loaded);
      assert.deepEqual(await readFile(again), await readFile(path));
      assert.deepEqual((await readdir(d)).sort(), ['again.bin', 'state.bin'], 'no temporary file is left');
    } finally {
      disposeCheckpoint(original);
      disposeCheckpoint(loaded);
    }
  });

  test('an empty checkpoint (no tensors) round trips', async () => {
    const d = await fresh();
    const path = join(d, 'phase.bin');
    await saveCheckpoint(path, { iteration: 0, params: {}, optimizerStates: {}, rngStates: {}, extra: {} });
    const loaded = await loadCheckpoint(path);
    assert.deepEqual(loaded, { iteration: 0, params: {}, optimizerStates: {}, rngStates: {}, extra: {} });
  });

  test('neither save nor load leaks tensors; load creates exactly the tensors it returns', async () => {
    const d = await fresh();
    const original = makeCheckpoint();
    const path = join(d, 'state.bin');
    const base = tf.memory().numTensors;
    await saveCheckpoint(path, original);
    assert.equal(tf.memory().numTensors, base, 'saveCheckpoint leaked tensors');
    const loaded = await loadCheckpoint(path);
    const returned =
      Object.keys(loaded.params).length +
      Object.values(loaded.optimizerStates).reduce((k, s) => k + (s ? Object.values(s.slots).reduce((j, set) => j + Object.keys(set).length, 0) : 0), 0);
    assert.equal(returned, 5 + 2 * 5 + 5, 'tensors returned by loadCheckpoint');
    assert.equal(tf.memory().numTensors, base + returned, 'loadCheckpoint made tensors it does not return');
    disposeCheckpoint(loaded);
    assert.equal(tf.memory().numTensors, base);
    disposeCheckpoint(original);
  });
});

describe('damaged checkpoints are one-line errors naming the file', () => {
  let good: string;
  let goodBytes: Buffer;

  before(async () => {
    const d = await fresh();
    good = join(d, 'good.bin');
    const c = makeCheckpoint();
    await saveCheckpoint(good, c);
    disposeCheckpoint(c);
    goodBytes = await readFile(good);
  });

  async function assertRejects(path: string, pattern: RegExp): Promise<void> {
    const base = tf.memory().numTensors;
    await assert.rejects(loadCheckpoint(path), (error: Error) => {
      assert.ok(error.message.includes(path), `the error should name ${path}: ${error.message}`);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes('\n'), `one line: ${JSON.stringify(error.message)}`);
      return true;
    });
    assert.equal(tf.memory().numTensors, base, 'a failed load leaked tensors');
  }

  async function damaged(name: string, edit: (b: Buffer) => Buffer): Promise<string> {
    const d = await fresh();
    const path = join(d, name);
    await writeFile(path, edit(Buffer.from(goodBytes)));
    return path;
  }

  test('truncated (in the data, in the header, to a few bytes, to nothing)', async () => {
    await assertRejects(await damaged('half.bin', (b) => b.subarray(0, Math.floor(b.length / 2))), /truncated|corrupt/);
    await assertRejects(await damaged('minus4.bin', (b) => b.subarray(0, b.length - 4)), /truncated|corrupt/);
    await assertRejects(await damaged('header.bin', (b) => b.subarray(0, 40)), /truncated|corrupt/);
    await assertRejects(await damaged('tiny.bin', (b) => b.subarray(0, 10)), /unusable/);
    await assertRejects(await damaged('empty.bin', () => Buffer.alloc(0)), /unusable/);
  });

  test('one flipped byte anywhere (magic aside) fails the checksum', async () => {
    // In the header length, the JSON header, the tensor data and the checksum itself.
    for (const at of [9, 20, goodBytes.length >> 1, goodBytes.length - 10, goodBytes.length - 1]) {
      await assertRejects(await damaged(`flip-${at}.bin`, (b) => ((b[at] ^= 0x01), b)), /checksum/);
    }
  });

  test('appended bytes are refused', async () => {
    await assertRejects(await damaged('longer.bin', (b) => Buffer.concat([b, Buffer.from([0, 0, 0, 0])])), /checksum|corrupt/);
  });

  test('a wrong magic (another file format) is refused as not a checkpoint', async () => {
    await assertRejects(await damaged('magic.bin', (b) => (b.write('RPTLCKP9', 0, 'latin1'), b)), /not a reptile checkpoint/);
    await assertRejects(await damaged('model.json', () => Buffer.from('{"format": "layers-model", "weightsManifest": []}\n')), /not a reptile checkpoint/);
  });

  test('a missing file, and a directory, say they cannot be read', async () => {
    const d = await fresh();
    await assertRejects(join(d, 'nope.bin'), /cannot read.*ENOENT/);
    await assertRejects(d, /cannot read/);
  });
});

describe('writes are atomic', () => {
  test('a failed save leaves the existing checkpoint byte for byte and no temporary file', async () => {
    const d = await fresh();
    const path = join(d, 'state.bin');
    const c = makeCheckpoint();
    await saveCheckpoint(path, c);
    const before = await readFile(path);
    // A checkpoint that cannot be serialised (a disposed tensor): the old file must survive.
    const broken = makeParams(3);
    broken['layer1/bias'].dispose();
    await assert.rejects(saveCheckpoint(path, { ...c, params: broken, iteration: 9999 }));
    disposeParams(broken);
    assert.deepEqual(await readFile(path), before);
    assert.deepEqual(await readdir(d), ['state.bin']);
    const loaded = await loadCheckpoint(path);
    assert.equal(loaded.iteration, 1234);
    disposeCheckpoint(loaded);
    disposeCheckpoint(c);
  });

  test('a save under a regular file fails clearly and changes nothing', async () => {
    const d = await fresh();
    const blocker = join(d, 'checkpoint');
    await writeFile(blocker, 'not a directory\n');
    const c = makeCheckpoint();
    await assert.rejects(saveCheckpoint(join(blocker, 'state.bin'), c), (error: NodeJS.ErrnoException) => {
      assert.ok(['ENOTDIR', 'EEXIST'].includes(error.code ?? ''), `unexpected error ${error.code}: ${error.message}`);
      assert.ok(error.message.includes(blocker), `the error should name the path: ${error.message}`);
      return true;
    });
    disposeCheckpoint(c);
    assert.equal(await readFile(blocker, 'utf8'), 'not a directory\n');
    assert.deepEqual(await readdir(d), ['checkpoint']);
  });

  test('a save that cannot be written (read-only directory, disk full, rename refused) fails and leaves the existing checkpoint', async () => {
    const d = await fresh();
    const path = join(d, 'state.bin');
    const c = makeCheckpoint();
    await saveCheckpoint(path, c);
    const before = await readFile(path);
    // The failures are injected into node:fs/promises (its named exports follow the module object
    // after syncBuiltinESMExports), for the save's temporary file only: root bypasses a chmod.
    const { writeFile: realWriteFile } = fsp;
    const temporary = (file: unknown) => typeof file === 'string' && basename(file).startsWith('.state.bin.');
    const failure = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
    const failures: [string, string, () => { mock: { restore(): void } }][] = [
      ['read-only directory', 'EACCES', () => mock.method(fsp, 'writeFile', async (file: string, data: Uint8Array) => {
        if (temporary(file)) throw failure('EACCES');
        return realWriteFile(file, data);
      })],
      ['disk full after half of the bytes', 'ENOSPC', () => mock.method(fsp, 'writeFile', async (file: string, data: Uint8Array) => {
        if (!temporary(file)) return realWriteFile(file, data);
        await realWriteFile(file, data.subarray(0, data.length >> 1));
        throw failure('ENOSPC');
      })],
      ['rename refused', 'EACCES', () => mock.method(fsp, 'rename', async () => {
        throw failure('EACCES');
      })],
    ];
    try {
      for (const [name, code, inject] of failures) {
        const injected = inject();
        syncBuiltinESMExports();
        try {
          await assert.rejects(saveCheckpoint(path, { ...c, iteration: 1 }), { code }, name);
        } finally {
          injected.mock.restore();
          syncBuiltinESMExports();
        }
        assert.deepEqual(await readFile(path), before, name);
        assert.deepEqual(await readdir(d), ['state.bin'], name);
      }
    } finally {
      disposeCheckpoint(c);
    }
  });

  test('a reader never sees a partial checkpoint while another process rewrites it, nor after that process is killed mid-write', { timeout: 300_000 }, async () => {
    const d = await fresh();
    const path = join(d, 'state.bin');
    const script = join(d, 'writer.mjs');
    const url = (p: string) => JSON.stringify(pathToFileURL(join(SRC, p)).href);
    // Two large checkpoints (4 MB of data each) saved alternately, as fast as possible; every
    // tensor in checkpoint i holds the value (i % 2) + 1, and extra.i says which one it is.
    await writeFile(
      script,
      `import { useBackend } from ${url('core/backend.js')};
import { tf } from ${url('core/tf.js')};
import { saveCheckpoint } from ${url('io/checkpoint.js')};
await useBackend('cpu');
const sets = [1, 2].map((v) => ({ w: tf.fill([1 << 20], v), b: tf.fill([7], v) }));
for (let i = 0; ; i++) {
  await saveCheckpoint(process.argv[2], { iteration: i, params: sets[i % 2], optimizerStates: {}, rngStates: {}, extra: { i } });
  process.stdout.write('saved ' + i + '\\n');
}
`,
    );
    const child = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    let saved = -1;
    let firstSave: () => void;
    const firstSaved = new Promise<void>((res) => (firstSave = res));
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      const m = /saved (\d+)\n$/.exec(s);
      if (m) saved = Number(m[1]);
      if (saved >= 0) firstSave();
    });
    const check = async (what: string) => {
      const c = await loadCheckpoint(path).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
      const expected = (c.iteration % 2) + 1;
      assert.deepEqual(c.extra, { i: c.iteration }, what);
      for (const t of Object.values(c.params)) {
        const v = (await t.data()) as Float32Array;
        assert.ok(v.every((x) => x === expected), `${what}: checkpoint ${c.iteration} mixes values of two saves`);
      }
      disposeParams(c.params);
      return c.iteration;
    };
    try {
      // (Once it has saved, its later end, killed below, is no failure.)
      await Promise.race([firstSaved, exited.then((signal) => assert.ok(saved >= 0, `the writer ended (${signal}) before it saved a checkpoint`))]);
      // Read concurrently with the writes until the reader has seen several saves, then kill the
      // writer at an arbitrary moment.
      const seen = new Set<number>();
      while (seen.size < 3) {
        assert.equal(child.exitCode ?? child.signalCode, null, 'the writer ended while the reader was reading');
        seen.add(await check('concurrent read'));
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      const last = await check('after SIGKILL');
      assert.ok(last >= saved, `the newest finished save (${saved}) is there, got ${last}`);
      // A write cut by the kill may leave its temporary file, never a damaged target.
      for (const f of await readdir(d)) assert.ok(['state.bin', 'writer.mjs'].includes(f) || /^\.state\.bin\..*\.tmp$/.test(f), `unexpected file ${f}`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
