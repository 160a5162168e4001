/**
 * The safetensors codec (src/core/safetensors.ts) against hand-built bytes, its rejection of
 * truncated and corrupt files, and the PyTorch names and layouts (src/nn/pytorch-layout.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/core/tf.js';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { disposeParams } from '../src/core/params.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../src/core/safetensors.js';
import { fromPyTorchTensors, pytorchLayout, pytorchMismatch, toPyTorchTensors } from '../src/nn/pytorch-layout.js';
import { mlp } from '../src/nn/mlp.js';
import { conv, convFeatureShape, convSpec } from '../src/nn/conv.js';

await useBackend('cpu');

/** A safetensors file from its header text and float values, byte by byte. */
function handBuilt(header: string, values: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + 4 * values.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, json.length, true); // the high 4 bytes of the u64 stay 0
  bytes.set(json, 8);
  values.forEach((v, i) => view.setFloat32(8 + json.length + 4 * i, v, true));
  return bytes;
}

test('encodeSafetensors writes the exact bytes of the format (sorted names, space-padded header, little-endian f32)', () => {
  const bytes = encodeSafetensors({
    tensors: { b: { shape: [1, 1], data: Float32Array.of(-2) }, a: { shape: [2], data: Float32Array.of(1, 0.5) } },
    metadata: { k: 'v' },
  });
  const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  assert.equal(padded.length % 8, 0);
  assert.deepEqual([...bytes], [...handBuilt(padded, [1, 0.5, -2])]);
  // The raw little-endian bytes of 1.0, 0.5 and -2.0, spelled out.
  assert.deepEqual([...bytes.subarray(8 + padded.length)], [0, 0, 0x80, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0xc0]);
});

test('decodeSafetensors reads a hand-built file (keys in any order, data in another order, no padding) and round-trips', () => {
  const file = handBuilt('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[4,20]},"__metadata__":{"format":"pt"},"b":{"shape":[1],"data_offsets":[0,4],"dtype":"F32"}}', [7, 1, 2, 3, 4]);
  const { tensors, metadata } = decodeSafetensors(file);
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual(tensors.w.shape, [2, 2]);
  assert.deepEqual([...tensors.w.data], [1, 2, 3, 4]);
  assert.deepEqual([...tensors.b.data], [7]);

  const values = Float32Array.of(1e-30, -3.25, Math.fround(Math.PI), 0, -0, 65504.5);
  const content = { tensors: { x: { shape: [2, 3], data: values }, scalar: { shape: [], data: Float32Array.of(2) }, empty: { shape: [0, 4], data: new Float32Array(0) } }, metadata: {} };
  const back = decodeSafetensors(encodeSafetensors(content));
  assert.deepEqual(back.metadata, {});
  for (const [name, t] of Object.entries(content.tensors)) {
    assert.deepEqual(back.tensors[name].shape, t.shape, name);
    assert.deepEqual([...back.tensors[name].data].map((v) => Object.is(v, -0) ? '-0' : v), [...t.data].map((v) => Object.is(v, -0) ? '-0' : v), name);
  }
});

test('decodeSafetensors rejects truncated and corrupt files with a message saying what is wrong', () => {
  const good = encodeSafetensors({ tensors: { a: { shape: [3], data: Float32Array.of(1, 2, 3) } }, metadata: { m: 'x' } });
  const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /truncated: 0 bytes/],
    ['cut inside the length', good.subarray(0, 5), /truncated: 5 bytes/],
    ['cut inside the header', good.subarray(0, 20), /header length says \d+ bytes, the file has 12/],
    ['cut inside the data', good.subarray(0, good.length - 1), /truncated: the tensors need 12 bytes of data, the file has 11/],
    ['bytes after the data', Uint8Array.from([...good, 0, 0]), /2 bytes after the last tensor's data/],
    ['a text file', new TextEncoder().encode('hello, this is not safetensors'), /not safetensors|header length/],
    ['header not JSON', handBuilt('{"a": [1, 2', []), /header is not valid UTF-8 JSON/],
    ['header a list', handBuilt('[1, 2]  ', []), /header is not a JSON object/],
    ['offsets for another shape', handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [1]), /tensor a: data_offsets \[0,4\] span 4 bytes, its F32 shape \[2\] needs 8/],
    ['overlapping tensors', handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', [1]), /gap or overlap/],
    ['a gap', handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', [1, 2]), /tensor a: .*gap or overlap at byte 0/],
    ['unknown dtype', handBuilt('{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', [1]), /tensor a: unknown dtype "F33"/],
    ['a negative dimension', handBuilt('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', [1]), /shape \[-1\] is not a list of non-negative integers/],
    ['a float64 tensor', handBuilt('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', [1, 2]), /tensor a is F64; only F32 is supported/],
    ['metadata not strings', handBuilt('{"__metadata__":{"n":1}}', []), /__metadata__\.n is not a string/],
  ];
  assert.ok(headerLength > 12, 'the cut inside the header is inside it');
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeSafetensors(bytes), (e: Error) => e instanceof SafetensorsError && message.test(e.message) && !e.message.includes('\n'), what);
  }
  assert.throws(() => encodeSafetensors({ tensors: { a: { shape: [2, 2], data: new Float32Array(3) } }, metadata: {} }), /shape \[2,2\] holds 4 values, got 3/);
});

test("the PyTorch names and shapes: the article's MetaModel (layerK, weight [out, in]) and the CNNs (convK, bnK, fc)", () => {
  const names = (spec: Parameters<typeof pytorchLayout>[0]) => pytorchLayout(spec).map((e) => `${e.torchName} [${e.torchShape}] <- ${e.name} [${e.shape}]`);
  assert.deepEqual(names(mlp([784, 64, 64, 5]).spec), [
    'layer1.weight [64,784] <- dense0/kernel [784,64]',
    'layer1.bias [64] <- dense0/bias [64]',
    'layer2.weight [64,64] <- dense1/kernel [64,64]',
    'layer2.bias [64] <- dense1/bias [64]',
    'layer3.weight [5,64] <- dense2/kernel [64,5]',
    'layer3.bias [5] <- dense2/bias [5]',
  ]);
  assert.deepEqual(names(mlp([1, 40, 40, 40, 1]).spec).map((n) => n.split(' <- ')[0]), ['layer1.weight [40,1]', 'layer1.bias [40]', 'layer2.weight [40,40]', 'layer2.bias [40]', 'layer3.weight [40,40]', 'layer3.bias [40]', 'layer4.weight [1,40]', 'layer4.bias [1]']);
  const block = (k: number, inC: number, outC: number) => [
    `conv${k}.weight [${outC},${inC},3,3] <- conv${k - 1}/kernel [3,3,${inC},${outC}]`,
    `conv${k}.bias [${outC}] <- conv${k - 1}/bias [${outC}]`,
    `bn${k}.weight [${outC}] <- bn${k - 1}/gamma [${outC}]`,
    `bn${k}.bias [${outC}] <- bn${k - 1}/beta [${outC}]`,
  ];
  assert.deepEqual(names(convSpec({ variant: 'omniglot', classes: 5 })), [
    ...block(1, 1, 64), ...block(2, 64, 64), ...block(3, 64, 64), ...block(4, 64, 64),
    'fc.weight [5,256] <- dense/kernel [256,5]', 'fc.bias [5] <- dense/bias [5]',
  ]);
  // 84 -> 42 -> 21 -> 11 -> 6 after the four pools: 6 * 6 * 32 features.
  assert.deepEqual(names(convSpec({ variant: 'miniimagenet', classes: 5 })), [
    ...block(1, 3, 32), ...block(2, 32, 32), ...block(3, 32, 32), ...block(4, 32, 32),
    'fc.weight [5,1152] <- dense/kernel [1152,5]', 'fc.bias [5] <- dense/bias [5]',
  ]);
  assert.throws(() => pytorchLayout({ kind: 'embedding-bag' } as never), /no PyTorch layout for embedding-bag models; only mlp and conv/);
});

test('the layouts: Linear weights transposed, conv kernels OIHW, fc columns in NCHW order; back again exactly', () => {
  const before = tf.memory().numTensors;
  const model = conv({ variant: 'omniglot', classes: 3, filters: 4 });
  const params = model.init(Rng.fromSeed(1));
  const torch = toPyTorchTensors(model.spec, params);
  const kernel = params['conv1/kernel'].arraySync() as number[][][][];
  const w = torch['conv2.weight'];
  for (const [o, i, y, x] of [[0, 0, 0, 0], [3, 2, 1, 2], [1, 3, 2, 0]]) assert.equal(w.data[((o * 4 + i) * 3 + y) * 3 + x], Math.fround(kernel[y][x][i][o]), `conv2.weight[${o},${i},${y},${x}]`);

  // The dense layer: our features are flattened (h, w, c), PyTorch's (c, h, w). The same
  // feature map through both flattens and both weights gives the same logits.
  const [H, W, C] = convFeatureShape(convSpec(model.spec as never));
  const fc = torch['fc.weight'];
  const difference = tf.tidy(() => {
    const features = tf.randomUniform([2, H, W, C], -1, 1, 'float32', 3);
    const ours = tf.matMul(features.reshape([2, H * W * C]), params['dense/kernel'] as tf.Tensor2D);
    const nchw = features.transpose([0, 3, 1, 2]).reshape([2, C * H * W]) as tf.Tensor2D;
    const theirs = tf.matMul(nchw, tf.tensor2d(fc.data, fc.shape as [number, number]), false, true);
    return tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0];
  });
  assert.ok(difference < 1e-6, `the permuted fc weight gives our logits (max difference ${difference})`);

  const back = fromPyTorchTensors(model.spec, torch);
  for (const [name, p] of Object.entries(params)) assert.deepEqual([...back[name].dataSync()], [...p.dataSync()], name);

  const net = mlp([3, 2]);
  const mlpParams = net.init(Rng.fromSeed(0));
  const k = mlpParams['dense0/kernel'].arraySync() as number[][];
  assert.deepEqual([...toPyTorchTensors(net.spec, mlpParams)['layer1.weight'].data], [k[0][0], k[1][0], k[2][0], k[0][1], k[1][1], k[2][1]].map(Math.fround));
  disposeParams(params);
  disposeParams(back);
  disposeParams(mlpParams);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

test('pytorchMismatch names the first tensor that does not fit: missing, wrong shape (expected vs found), unexpected', () => {
  const spec = mlp([4, 3, 2]).spec;
  const shapes = Object.fromEntries(pytorchLayout(spec).map((e) => [e.torchName, { shape: e.torchShape }]));
  assert.equal(pytorchMismatch(spec, shapes), undefined);
  const { ['layer2.bias']: _, ...missing } = shapes;
  assert.equal(pytorchMismatch(spec, missing), 'missing tensor layer2.bias (expected [2])');
  assert.equal(pytorchMismatch(spec, { ...shapes, 'layer1.weight': { shape: [4, 3] } }), 'tensor layer1.weight: expected [3,4], found [4,3]');
  assert.match(pytorchMismatch(spec, { ...shapes, 'bn1.running_mean': { shape: [3] } })!, /^unexpected tensor bn1\.running_mean \[3\] \(expected only layer1\.weight, /);
  assert.throws(() => fromPyTorchTensors(spec, { 'layer1.weight': { shape: [3, 4], data: new Float32Array(12) } }), /missing tensor layer1\.bias/);
});
