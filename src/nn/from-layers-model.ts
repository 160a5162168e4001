/**
 * A user's tfjs-layers model (`tf.sequential` or functional `tf.model`) as the library's
 * functional `Model`, so that Reptile, FOMAML and MAML can meta-learn it like the library's own.
 *
 * - The layer graph is walked once, in the model's topological order (tfjs-layers sorts
 *   `model.layers` by depth), following each layer's inbound node; every layer becomes a pure
 *   function of named parameters (nn/layer-ops.ts). Parameters are named like the model's weights
 *   (`dense_Dense1/kernel`), and `init` returns copies of the model's weights as they were at
 *   conversion (a pre-trained model is the starting point), or with `reinit` draws fresh ones
 *   from the rng, as each layer's initializer would (nn/layer-init.ts).
 * - The spec is the model's own tfjs-layers description (`getConfig()`), which `buildModel`
 *   deserialises synchronously (`fromConfig`, what `tf.models.modelFromJSON` does, minus the
 *   weight loading, which is asynchronous) and converts again: worker threads and model.json
 *   files rebuild the same architecture. A rebuilt model draws its parameters from the rng.
 * - Where the architecture is exactly one of the fused kernels', the model carries that kernel's
 *   spec and parameter names (nn/kernel-equivalent.ts), and the factory chooses the kernel.
 */
import { tf } from '../core/tf.js';
import type { ParamSet } from '../core/params.js';
import type { Rng } from '../core/rng.js';
import type { LayersSpec, ModelWithSpec } from './model.js';
import { convertLayer, UnsupportedLayerError, type ConvertedLayer, type LayerLike, type LayerParam } from './layer-ops.js';
import { initialValues } from './layer-init.js';
import { recordKernelEquivalent, type PlanStep } from './kernel-equivalent.js';

export interface FromLayersModelOptions {
  /** Draw fresh weights from `init`'s rng instead of starting from the model's current weights. */
  reinit?: boolean;
}

/** What the walk needs of a symbolic tensor and a node (structural: tfjs-layers does not export them). */
interface SymbolicLike {
  readonly id: number;
  readonly shape: readonly (number | null)[];
}
interface NodeLike {
  readonly inputTensors: readonly SymbolicLike[];
  readonly outputTensors: readonly SymbolicLike[];
}
type GraphLayer = LayerLike & { readonly inboundNodes: readonly NodeLike[] };

const withoutBatch = (shape: readonly (number | null)[]) => shape.slice(1).map(Number);

/** The layer's calls whose inputs are all computed already (indexed by symbolic tensor id). */
const computedCalls = (layer: GraphLayer, index: ReadonlyMap<number, number>) =>
  layer.inboundNodes.filter((n) => n.inputTensors.length > 0 && n.inputTensors.every((t) => index.has(t.id)));

/** The layers in evaluation order, each with the indices of its inputs (0: the model's input; i + 1: step i's output). */
function walk(layersModel: tf.LayersModel): { inputShape: number[]; steps: PlanStep[]; converted: ConvertedLayer[]; output: number; outputShape: number[] } {
  const label = `fromLayersModel: model '${layersModel.name}'`;
  if (!layersModel.inputs || layersModel.inputs.length === 0) throw new Error(`${label} has no input shape yet: give its first layer an inputShape`);
  if (layersModel.inputs.length !== 1 || layersModel.outputs.length !== 1) {
    throw new Error(`${label} has ${layersModel.inputs.length} inputs and ${layersModel.outputs.length} outputs; only models with one input and one output are supported`);
  }
  const input = layersModel.inputs[0] as unknown as SymbolicLike;
  const index = new Map<number, number>([[input.id, 0]]);
  const steps: PlanStep[] = [];
  const converted: ConvertedLayer[] = [];
  for (const layer of layersModel.layers as unknown as GraphLayer[]) {
    if (layer.getClassName() === 'InputLayer') continue;
    // The node of this model: the one whose inputs are already computed.
    const nodes = computedCalls(layer, index);
    if (nodes.length !== 1) {
      const why = nodes.length === 0 ? 'is not connected to the model input' : `is called ${nodes.length} times (a shared layer)`;
      throw new UnsupportedLayerError(layer.getClassName(), layer.name, why);
    }
    const [node] = nodes;
    if (node.outputTensors.length !== 1) throw new UnsupportedLayerError(layer.getClassName(), layer.name, 'has several outputs');
    converted.push(convertLayer(layer, node.inputTensors.map((t) => withoutBatch(t.shape))));
    steps.push({ className: layer.getClassName(), config: layer.getConfig(), inputs: node.inputTensors.map((t) => index.get(t.id)!), params: converted[converted.length - 1].params.map((p) => p.name) });
    index.set(node.outputTensors[0].id, steps.length);
  }
  // A layer called twice (shared) has another node whose inputs are now computed: its weights would be tied.
  for (const layer of layersModel.layers as unknown as GraphLayer[]) {
    const calls = computedCalls(layer, index).length;
    if (calls > 1) throw new UnsupportedLayerError(layer.getClassName(), layer.name, `is called ${calls} times (a shared layer)`);
  }
  const out = layersModel.outputs[0] as unknown as SymbolicLike;
  const output = index.get(out.id);
  if (output === undefined) throw new Error(`${label}: its output is not reached from its input`);
  return { inputShape: withoutBatch(input.shape), steps, converted, output, outputShape: withoutBatch(out.shape) };
}

/** The spec of a LayersModel: its own JSON description (plain data: no tensors, no functions). */
export function layersSpec(layersModel: tf.LayersModel): LayersSpec {
  const className = layersModel.getClassName() === 'Sequential' ? 'Sequential' : 'Model';
  return { kind: 'layers', className, config: JSON.parse(JSON.stringify(layersModel.getConfig())) };
}

/** The tfjs-layers model a spec describes, with freshly initialised weights (the caller disposes it). */
export function layersModelFromSpec(spec: LayersSpec): tf.LayersModel {
  const config = structuredClone(spec.config) as tf.serialization.ConfigDict;
  if (spec.className === 'Sequential') return tf.Sequential.fromConfig(tf.Sequential, config) as tf.Sequential;
  return tf.LayersModel.fromConfig(tf.LayersModel, config) as tf.LayersModel;
}

/** Rebuilds a converted model from its spec (what `buildModel` does for kind 'layers'); parameters come from the rng. */
export function modelFromLayersSpec(spec: LayersSpec): ModelWithSpec<LayersSpec> {
  const layersModel = layersModelFromSpec(spec);
  try {
    return fromLayersModel(layersModel, { reinit: true });
  } finally {
    layersModel.dispose();
  }
}

/**
 * The functional form of `layersModel`. Throws one clear error for a layer or option it does not
 * convert (naming the layer and listing the supported layers), and for models with several
 * inputs or outputs. The LayersModel is not changed and may be disposed afterwards.
 */
export function fromLayersModel(layersModel: tf.LayersModel, options: FromLayersModelOptions = {}): ModelWithSpec<LayersSpec> {
  const { inputShape, steps, converted, output, outputShape } = walk(layersModel);
  if (outputShape.length !== 1) throw new Error(`fromLayersModel: model '${layersModel.name}' outputs [${outputShape}] per example; the library's models output a vector (add a Flatten or Dense layer)`);
  const params: LayerParam[] = converted.flatMap((c) => c.params);
  // Copies of the current weights, kept for every init() (a pre-trained model's starting point).
  const current = new Map<string, tf.Tensor>();
  if (!options.reinit) {
    const byName = new Map(layersModel.weights.map((w) => [w.originalName, w]));
    for (const p of params) current.set(p.name, tf.keep(byName.get(p.name)!.read().clone()));
  }
  const unsafe = converted.map((c) => c.secondOrderUnsupported).filter((w) => w);
  const model: ModelWithSpec<LayersSpec> = {
    spec: layersSpec(layersModel),
    inputShape,
    outputSize: outputShape[0],
    batchStatistics: converted.some((c) => c.batchStatistics),
    ...(unsafe.length > 0 ? { secondOrderUnsupported: unsafe.join('; ') } : {}),
    init(rng: Rng): ParamSet {
      const out: Record<string, tf.Tensor> = {};
      for (const p of params) out[p.name] = options.reinit ? tf.tensor(initialValues(rng, p.initializer, p.shape, `weight '${p.name}'`), p.shape) : current.get(p.name)!.clone();
      return out;
    },
    apply(ps: ParamSet, x: tf.Tensor): tf.Tensor2D {
      return tf.tidy(() => {
        // Like the library's own models, it accepts flattened examples.
        const values: tf.Tensor[] = [tf.reshape(x, [x.shape[0], ...inputShape])];
        steps.forEach((step, i) => values.push(converted[i].apply(ps, step.inputs.map((j) => values[j]))));
        return values[output] as tf.Tensor2D;
      });
    },
  };
  recordKernelEquivalent(model, inputShape, steps);
  return model;
}
