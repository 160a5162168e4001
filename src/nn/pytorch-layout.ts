/**
 * Our parameters under PyTorch's state_dict names and layouts, and back.
 *
 * - MLP (the article's `MetaModel`, any depth): `denseL/kernel` [in, out] is `layer{L+1}.weight`
 *   [out, in] (nn.Linear stores the transpose), `denseL/bias` is `layer{L+1}.bias`.
 * - CNN (bench/reptile_models.py's OmniglotModel and MiniImageNetModel): `convL/kernel` HWIO
 *   [3, 3, in, out] is `conv{L+1}.weight` OIHW [out, in, 3, 3]; `convL/bias` is `conv{L+1}.bias`;
 *   `bnL/gamma` and `bnL/beta` are `bn{L+1}.weight` and `bn{L+1}.bias` (BatchNorm2d with
 *   track_running_stats=False: batch statistics, so no buffers); `dense/kernel` [features,
 *   classes] is `fc.weight` [classes, features] with its features reordered from our NHWC flatten
 *   (h, w, c) to PyTorch's NCHW flatten (c, h, w), so that the logits are the same.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { F32Tensor } from '../core/safetensors.js';
import { CONV_BLOCKS, convFeatureShape, convSpec } from './conv.js';
import type { ModelSpec } from './model.js';

/** One parameter: our name and shape, PyTorch's, and the axis permutation from ours (reshaped to `ours4`) to PyTorch's. */
export interface PyTorchEntry {
  name: string;
  shape: number[];
  torchName: string;
  torchShape: number[];
  /** Our tensor is reshaped to this before `perm` (the dense layer of a CNN: [h, w, c, classes]). */
  viewShape: number[];
  /** tf.transpose's permutation from `viewShape` to PyTorch's layout (before its final reshape). */
  perm: number[];
}

const entry = (name: string, shape: number[], torchName: string, torchShape: number[], viewShape = shape, perm = shape.map((_, i) => i)): PyTorchEntry => ({
  name,
  shape,
  torchName,
  torchShape,
  viewShape,
  perm,
});

/** The mapping for a model spec, in PyTorch's module order; only MLPs and the CNNs have one. */
export function pytorchLayout(spec: ModelSpec): PyTorchEntry[] {
  if (spec.kind === 'mlp') {
    return spec.sizes.slice(1).flatMap((out, l) => {
      const inSize = spec.sizes[l];
      return [entry(`dense${l}/kernel`, [inSize, out], `layer${l + 1}.weight`, [out, inSize], [inSize, out], [1, 0]), entry(`dense${l}/bias`, [out], `layer${l + 1}.bias`, [out])];
    });
  }
  if (spec.kind === 'conv') {
    const full = convSpec(spec);
    const entries: PyTorchEntry[] = [];
    let inC = full.inputShape[2];
    for (let l = 0; l < CONV_BLOCKS; l++) {
      const outC = full.filters;
      entries.push(
        entry(`conv${l}/kernel`, [3, 3, inC, outC], `conv${l + 1}.weight`, [outC, inC, 3, 3], [3, 3, inC, outC], [3, 2, 0, 1]),
        entry(`conv${l}/bias`, [outC], `conv${l + 1}.bias`, [outC]),
        entry(`bn${l}/gamma`, [outC], `bn${l + 1}.weight`, [outC]),
        entry(`bn${l}/beta`, [outC], `bn${l + 1}.bias`, [outC]),
      );
      inC = outC;
    }
    const [h, w, c] = convFeatureShape(full);
    const features = h * w * c;
    entries.push(
      entry('dense/kernel', [features, full.classes], 'fc.weight', [full.classes, features], [h, w, c, full.classes], [3, 2, 0, 1]),
      entry('dense/bias', [full.classes], 'fc.bias', [full.classes]),
    );
    return entries;
  }
  throw new RangeError(`no PyTorch layout for ${spec.kind} models; only mlp and conv models have one`);
}

/** `params` as a PyTorch state_dict's tensors (host copies). */
export function toPyTorchTensors(spec: ModelSpec, params: ParamSet): Record<string, F32Tensor> {
  const out: Record<string, F32Tensor> = {};
  for (const e of pytorchLayout(spec)) {
    const p = params[e.name];
    if (!p || p.shape.join(',') !== e.shape.join(',')) throw new RangeError(`parameter ${e.name} is ${p ? `[${p.shape}]` : 'missing'}, expected [${e.shape}]`);
    const data = tf.tidy(() => tf.transpose(p.reshape(e.viewShape), e.perm).dataSync() as Float32Array);
    out[e.torchName] = { shape: [...e.torchShape], data: Float32Array.from(data) };
  }
  return out;
}

/** Why `tensors` are not a state_dict of `spec`'s PyTorch module (the first mismatch), or undefined. */
export function pytorchMismatch(spec: ModelSpec, tensors: Record<string, { shape: readonly number[] }>): string | undefined {
  const layout = pytorchLayout(spec);
  for (const e of layout) {
    const t = tensors[e.torchName];
    if (!t) return `missing tensor ${e.torchName} (expected [${e.torchShape}])`;
    if (t.shape.join(',') !== e.torchShape.join(',')) return `tensor ${e.torchName}: expected [${e.torchShape}], found [${t.shape}]`;
  }
  const known = new Set(layout.map((e) => e.torchName));
  const extra = Object.keys(tensors).find((name) => !known.has(name));
  return extra === undefined ? undefined : `unexpected tensor ${extra} [${tensors[extra].shape}] (expected only ${[...known].join(', ')})`;
}

/** Our parameters from a PyTorch state_dict's tensors; throws a RangeError naming the first mismatch. */
export function fromPyTorchTensors(spec: ModelSpec, tensors: Record<string, F32Tensor>): ParamSet {
  const mismatch = pytorchMismatch(spec, tensors);
  if (mismatch) throw new RangeError(mismatch);
  const params: Record<string, tf.Tensor> = {};
  for (const e of pytorchLayout(spec)) {
    const inverse = e.perm.map((_, i) => e.perm.indexOf(i));
    const permuted = e.perm.map((axis) => e.viewShape[axis]);
    params[e.name] = tf.tidy(() => tf.transpose(tf.tensor(tensors[e.torchName].data, permuted), inverse).reshape(e.shape));
  }
  return params;
}
