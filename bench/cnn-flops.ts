/**
 * The arithmetic of one training step of the fused CNN kernel (native/fused-cnn.c: BLOCKS blocks of
 * a 3x3 convolution with TensorFlow's 'same' padding, batch norm on the batch's statistics and ReLU,
 * then a dense head), counted from the shapes, so that `npm run bench` can turn times into GFLOP/s.
 *
 * A multiply-add is 2 FLOP. The three convolution passes and the dense products are counted exactly
 * (every multiply-add of the product; the zero padding's included, as the kernel computes it). Batch
 * norm is counted by its formula's operations per element of a block's output: forward 9 (mean 1,
 * variance 3, normalise 2, scale and shift 2, ReLU 1), backward 12 (ReLU's mask 1, the gamma and beta
 * gradients 3, dx-hat 1, its two sums 3, the input gradient 4); the biases (1 per element each way)
 * go with it. Adam is 10 FLOP per parameter. Softmax and the loss are left out (classes x batch).
 */
export interface CnnShape {
  height: number;
  width: number;
  channels: number;
  filters: number;
  classes: number;
  stride: number;
  /** Convolution blocks (the kernel has 4). */
  blocks: number;
  /** Examples per step (the inner batch). */
  batch: number;
}

export interface CnnStepFlops {
  /** Every block's convolution, forward. */
  convForward: number;
  /** Every block's filter gradient. */
  filterGradient: number;
  /** The input gradients of blocks 2..n (the first block's input needs none). */
  inputGradient: number;
  /** Batch norm and ReLU forward, with the conv biases. */
  batchNormForward: number;
  /** Batch norm and ReLU backward, with the conv biases' gradients. */
  batchNormBackward: number;
  /** The dense head: forward, and its weight and input gradients. */
  denseForward: number;
  denseBackward: number;
  /** The optimizer's update (Adam). */
  update: number;
  /** What a forward pass computes (cnn_predict), what the backward pass and the update add, and the step's total. */
  forward: number;
  backward: number;
  total: number;
}

const TAPS = 9;
const BATCH_NORM_FORWARD = 9 + 1;
const BATCH_NORM_BACKWARD = 12 + 1;
const ADAM = 10;

/** 'same' padding: the output is ceil(size / stride). */
function outSize(size: number, stride: number): number {
  return Math.ceil(size / stride);
}

export function cnnStepFlops(s: CnnShape): CnnStepFlops {
  let h = s.height;
  let w = s.width;
  let inChannels = s.channels;
  let convForward = 0;
  let inputGradient = 0;
  let outputs = 0;
  let params = 0;
  for (let block = 0; block < s.blocks; block++) {
    h = outSize(h, s.stride);
    w = outSize(w, s.stride);
    const macs = s.batch * h * w * TAPS * inChannels * s.filters;
    convForward += 2 * macs;
    if (block > 0) inputGradient += 2 * macs;
    outputs += s.batch * h * w * s.filters;
    params += TAPS * inChannels * s.filters + 3 * s.filters;
    inChannels = s.filters;
  }
  const features = h * w * s.filters;
  params += features * s.classes + s.classes;
  const dense = 2 * s.batch * features * s.classes;
  const c = {
    convForward,
    filterGradient: convForward,
    inputGradient,
    batchNormForward: BATCH_NORM_FORWARD * outputs,
    batchNormBackward: BATCH_NORM_BACKWARD * outputs,
    denseForward: dense,
    denseBackward: 2 * dense,
    update: ADAM * params,
  };
  const forward = c.convForward + c.batchNormForward + c.denseForward;
  const backward = c.filterGradient + c.inputGradient + c.batchNormBackward + c.denseBackward + c.update;
  return { ...c, forward, backward, total: forward + backward };
}

/** The paper's Omniglot CNN as `npm run bench` trains it: 28x28x1, 64 filters, stride 2, 4 blocks, 5-way, inner batch 10. */
export const OMNIGLOT_CNN: CnnShape = { height: 28, width: 28, channels: 1, filters: 64, classes: 5, stride: 2, blocks: 4, batch: 10 };
