"""PyTorch modules whose state_dicts are what `reptile export --format safetensors` writes and
`--init-from` reads (src/nn/pytorch-layout.ts maps our parameters to these names and layouts).

- MetaModel(sizes): the article's MetaModel generalised to any depth, sizes [784, 64, 64, N]:
  layer1..layerK = nn.Linear, ReLU (or tanh) between them, none after the last.
- OmniglotModel(classes): openai/supervised-reptile's OmniglotModel, input [B, 1, 28, 28]:
  4 x [conv 3x3 stride 2, 'same' (TensorFlow's), bias -> batch norm -> ReLU] -> flatten -> fc.
- MiniImageNetModel(classes): input [B, 3, 84, 84]: 4 x [conv 3x3 stride 1 'same', bias -> batch
  norm -> max-pool 2x2 stride 2 'same' -> ReLU] -> flatten -> fc.

Names: conv1..conv4 (weight [out, in, 3, 3], bias), bn1..bn4 (weight = gamma, bias = beta), fc
(weight [classes, features], bias). Batch norm uses the batch's own statistics in training and
evaluation alike, as the paper's models (track_running_stats=False: no running buffers, so a
strict load_state_dict needs exactly those tensors), epsilon 1e-3 as TensorFlow's default.

Two layout details make the logits equal ours:
- TensorFlow's 'same' padding is asymmetric when the total padding is odd: the extra row and
  column go at the bottom and right (stride 2 on 28x28 pads (0, 1), not nn.Conv2d(padding=1)'s
  (1, 1), which shifts every output by a pixel). tf_same_pad reproduces it with F.pad; for max
  pooling it pads with -inf (TensorFlow's pooling ignores the padding).
- Our flatten is NHWC (h, w, c) and PyTorch's is NCHW (c, h, w): the export permutes fc.weight's
  columns, so fc here takes PyTorch's ordinary flatten.

The existing bench/omniglot_reference.py is functional over a parameter list (its _same_pad is
the stride-2 case of tf_same_pad); these modules are the named form for interop.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH_NORM_EPSILON = 1e-3


def tf_same_pad(x, kernel, stride, value=0.0):
    """Pads [B, C, H, W] as TensorFlow's padding='same': total (ceil(n/s)-1)*s + k - n per axis,
    half before (rounded down) and the rest after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class MetaModel(nn.Module):
    def __init__(self, sizes=(784, 64, 64, 10), activation="relu"):
        super().__init__()
        self.sizes = list(sizes)
        self.activation = torch.relu if activation == "relu" else torch.tanh
        for k in range(1, len(sizes)):
            setattr(self, "layer%d" % k, nn.Linear(sizes[k - 1], sizes[k]))

    def forward(self, x):
        h = x.reshape(x.shape[0], -1)
        layers = len(self.sizes) - 1
        for k in range(1, layers + 1):
            h = getattr(self, "layer%d" % k)(h)
            if k < layers:
                h = self.activation(h)
        return h


class ConvModel(nn.Module):
    """The two CNNs: 'omniglot' (stride-2 convs, no pooling) or 'miniimagenet' (stride-1 convs, max-pool)."""

    def __init__(self, variant, classes, input_shape=None, filters=None):
        super().__init__()
        self.variant = variant
        default_shape, default_filters = {"omniglot": ((28, 28, 1), 64), "miniimagenet": ((84, 84, 3), 32)}[variant]
        height, width, channels = input_shape or default_shape
        filters = filters or default_filters
        self.stride = 2 if variant == "omniglot" else 1
        # False: nn.Conv2d(padding=1)'s symmetric padding instead (a control in pytorch_interop.py).
        self.tf_padding = True
        cin = channels
        for k in range(1, 5):
            setattr(self, "conv%d" % k, nn.Conv2d(cin, filters, 3, stride=self.stride, padding=0))
            setattr(self, "bn%d" % k, nn.BatchNorm2d(filters, eps=BATCH_NORM_EPSILON, track_running_stats=False))
            cin = filters
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        self.fc = nn.Linear(filters * height * width, classes)

    def forward(self, x):
        """x: [B, C, H, W] (or [B, H, W] for one channel)."""
        h = x.unsqueeze(1) if x.dim() == 3 else x
        for k in range(1, 5):
            h = getattr(self, "conv%d" % k)(tf_same_pad(h, 3, self.stride) if self.tf_padding else F.pad(h, (1, 1, 1, 1)))
            h = getattr(self, "bn%d" % k)(h)
            if self.variant == "miniimagenet":
                h = F.max_pool2d(tf_same_pad(h, 2, 2, value=-math.inf), 2, 2)
            h = F.relu(h)
        return self.fc(h.flatten(1))


def OmniglotModel(classes, **kwargs):
    return ConvModel("omniglot", classes, **kwargs)


def MiniImageNetModel(classes, **kwargs):
    return ConvModel("miniimagenet", classes, **kwargs)


def module_for_spec(spec):
    """The module for a reptile model spec (the `modelSpec` JSON of an export's __metadata__)."""
    if spec["kind"] == "mlp":
        return MetaModel(spec["sizes"], spec["activation"])
    if spec["kind"] == "conv":
        return ConvModel(spec["variant"], spec["classes"], tuple(spec["inputShape"]), spec["filters"])
    raise ValueError("no PyTorch module for %s models" % spec["kind"])


# safetensors without the Python package (Debian has none): the format is 8 bytes of header
# length (little-endian), the JSON header, then the raw little-endian tensor bytes.
def save_safetensors(tensors, path, metadata=None):
    import json
    import struct

    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def load_safetensors(path):
    import json
    import struct

    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", "%s: %s" % (name, e["dtype"])
        begin, end = e["data_offsets"]
        values = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4").astype(np.float32)
        tensors[name] = torch.from_numpy(values.copy()).reshape(e["shape"])
    return tensors, metadata
