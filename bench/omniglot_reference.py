#!/usr/bin/python3
"""PyTorch reference for Reptile few-shot classification on Omniglot.

Faithful, flag-compatible re-implementation of openai/supervised-reptile
(``run_omniglot.py`` / ``reptile.py`` / ``models.py`` / ``eval.py``), used by
benchmarks/docs to compare the TypeScript ``reptile`` numbers (accuracy and
speed) with the original.  It is NOT used in tests or CI.

Requirements: PyTorch, NumPy and Pillow for the *system* interpreter, e.g. on
Debian ``apt-get install -y python3-torch libopenblas0-pthread python3-pil``;
run it with ``/usr/bin/python3`` (a pyenv ``python3`` earlier on PATH has no
torch).  Without ``libopenblas0-pthread`` Debian's torch falls back to the
reference BLAS and is several times slower.

Usage::

    /usr/bin/python3 bench/omniglot_reference.py                  # paper 5-way 1-shot, CNN, 100k iters
    /usr/bin/python3 bench/omniglot_reference.py --model mlp --meta-iters 2000 --seed 1
    /usr/bin/python3 bench/omniglot_reference.py --shots 5 --transductive
    /usr/bin/python3 bench/omniglot_reference.py --classes 20 --inner-batch 20 \\
        --inner-iters 10 --learning-rate 0.0005 --meta-iters 200000 --eval-batch 10
    /usr/bin/python3 bench/omniglot_reference.py --model conv --threads 2 \\
        --meta-iters 100 --eval-samples 10                        # speed only

Flags (defaults = the paper's Omniglot 5-way 1-shot): --model mlp|conv (conv),
--classes 5, --shots 1, --train-shots 10, --inner-batch 10, --inner-iters 5,
--learning-rate 0.001, --meta-step 1, --meta-step-final 0, --meta-batch 5,
--meta-iters 100000, --eval-batch 5, --eval-iters 50, --eval-samples 1000,
--transductive (off), --seed 0, --split-seed 0, --threads 1,
--data DIR (../shared/data/omniglot relative to the repository),
--cache-dir DIR (~/.cache/reptile-py).

Data
  * images_background.zip and images_evaluation.zip are read from --data
    (the official archives or our rebuilt copies; entries
    ``<root>/<alphabet>/<character>/<drawing>.png``).  Each 105x105 1-bit PNG
    is converted to greyscale 'L', INVERTED (strokes 255, background 0; with
    the PNGs' own convention the MLP collapses to chance, FINDINGS.md) and
    resized to 28x28 with PIL's Image.BOX filter (exact area average); a
    model sees value / 255.  The TypeScript loader's exact area average gives
    the same values up to rounding.  (The original resized the 1-bit images
    with PIL's nearest neighbour, giving 0/1 pixels.)
  * Decoded arrays (uint8, [1623, 20, 28, 28]) are cached in
    ``<cache-dir>/omniglot-28-inv-<key>.npz``, keyed by both archives'
    sizes and mtimes.
  * Split as the paper / run_omniglot.py: the 1623 characters of both
    archives merged and sorted by ``<alphabet>/<character>`` (the original
    merged both archives into one folder and walked it in sorted order),
    shuffled with random.Random(--split-seed); the first 1200 train, each
    rotated by 0/90/180/270 degrees counter-clockwise (np.rot90) as four
    separate classes (4800), the remaining 423 test (no rotations).  The
    split's RNG differs from the TypeScript one, so the two use different
    (equally distributed) character splits.

Models (TensorFlow-default init as the original: Glorot/Xavier-uniform
weights, zero biases, BN gamma 1 beta 0; float32)
  * mlp: the article's 784-64-64-N, ReLU.
  * conv: the paper's 4 x [conv 3x3, 64 filters, stride 2, TensorFlow 'same'
    padding (28->14->7->4->2; for even sizes TF pads one row/column at the
    bottom/right only, reproduced with F.pad), batch norm always with the
    current batch's statistics (eps 1e-3, no running averages), ReLU]
    -> flatten (256) -> linear N.

Reptile (reptile.py, Algorithm 2), per meta-iteration i (0-based):
  for each of --meta-batch tasks: weights <- theta; sample --classes
  distinct training classes (labels 0..N-1 in sampled order) and
  --train-shots distinct drawings of each (random.sample: the original's
  shuffle-and-take-first, same distribution); shuffle the task's examples and take
  consecutive minibatches of --inner-batch (reshuffled when exhausted, a
  partial batch carries over, as in _mini_batches), --inner-iters Adam
  steps on the SUM of per-example cross-entropies.  Adam is TensorFlow's
  AdamOptimizer (lr, beta1 0, beta2 0.999, epsilon-hat 1e-8:
  lr_t = lr*sqrt(1-b2^t)/(1-b1^t), w -= lr_t*m/(sqrt(v)+eps)); its state
  (moments and step count) PERSISTS across tasks and meta-iterations, only
  the weights are reset.  Then theta <- theta + eps_i * (mean phi - theta),
  eps_i = meta_step * (1 - i/meta_iters) + meta_step_final * i/meta_iters.

Evaluation (eval.py, but with a FRESH Adam per task as DESIGN.md says; the
original reused the training Adam state): --eval-samples tasks, each
--classes test classes with --shots+1 drawings, the first of each class is
the query; --eval-iters Adam steps from theta on minibatches of
--eval-batch from the support set (same batching as training); then
predictions: non-transductive (default) each query is fed in one batch with
the whole support set and its prediction is the batch's last row (batch norm
sees support + 1 query); --transductive feeds all queries in one batch (batch
norm sees the queries only, as the original).  theta is restored after each
task.  accuracy = mean of per-task accuracies, ci95 = 1.96 * std / sqrt(n)
(population std of the per-task accuracies).

Reproducibility: training tasks come from random.Random(seed), evaluation
tasks from an independent random.Random(seed + 1000003) (so they do not
depend on --meta-iters), weights from torch.manual_seed(seed).  Results are
deterministic for a given PyTorch build and thread count.

Output: one JSON object on stdout:
  {"model", "metaIters", "seed", "threads", "trainSeconds", "msPerMetaIter",
   "eval": {"ways", "shots", "tasks", "accuracy", "ci95", "transductive"},
   "evalSeconds", "wallSeconds", "config": {...every flag...}}
accuracy is a fraction 0..1; trainSeconds / msPerMetaIter cover the
meta-training loop only (data loading excluded), wallSeconds training +
evaluation.  Progress goes to stderr.
"""

import argparse
import io
import json
import math
import os
import random
import re
import sys
import time
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

ARCHIVES = ("images_background.zip", "images_evaluation.zip")
IMAGE_SIZE = 28
N_TRAIN_CHARS = 1200
CACHE_VERSION = 1
_PNG_RE = re.compile(r"^(?:[^/]+/)?([^/]+)/([^/]+)/([^/]+\.png)$")


def default_data_dir():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.normpath(os.path.join(repo, "..", "shared", "data", "omniglot"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch reference for Reptile on Omniglot (openai/supervised-reptile)")
    p.add_argument("--model", choices=("mlp", "conv"), default="conv")
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--train-shots", type=int, default=10)
    p.add_argument("--inner-batch", type=int, default=10)
    p.add_argument("--inner-iters", type=int, default=5)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--meta-step", type=float, default=1.0)
    p.add_argument("--meta-step-final", type=float, default=0.0)
    p.add_argument("--meta-batch", type=int, default=5)
    p.add_argument("--meta-iters", type=int, default=100000)
    p.add_argument("--eval-batch", type=int, default=5)
    p.add_argument("--eval-iters", type=int, default=50)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--transductive", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=default_data_dir())
    p.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "reptile-py"))
    args = p.parse_args(argv)
    for name in ("classes", "shots", "train_shots", "inner_batch", "inner_iters",
                 "meta_batch", "meta_iters", "eval_batch", "eval_iters",
                 "eval_samples", "threads"):
        if getattr(args, name) < 1:
            p.error("--%s must be >= 1" % name.replace("_", "-"))
    if args.classes < 2:
        p.error("--classes must be >= 2")
    if args.train_shots > 20 or args.shots + 1 > 20:
        p.error("--train-shots and --shots + 1 must be <= 20 (drawings per character)")
    if args.learning_rate <= 0:
        p.error("--learning-rate must be > 0")
    return args


# ----------------------------------------------------------------------------
# Data


def _decode_archive(path, out):
    """Appends (name, [20, 28, 28] uint8) per character of one archive to out."""
    from PIL import Image  # only needed when the cache is cold

    chars = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if "__MACOSX" in name or any(s.startswith(".") for s in name.split("/")):
                continue
            m = _PNG_RE.match(name)
            if m is None:
                raise SystemExit("%s: unexpected entry %r (want <alphabet>/<character>/<drawing>.png)"
                                 % (path, name))
            alphabet, character, drawing = m.groups()
            with Image.open(io.BytesIO(z.read(info))) as im:
                grey = np.asarray(im.convert("L"), dtype=np.uint8)
            inverted = Image.fromarray(255 - grey, mode="L")
            small = np.asarray(inverted.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX),
                               dtype=np.uint8)
            chars.setdefault(alphabet + "/" + character, []).append((drawing, small))
    for cname, drawings in chars.items():
        drawings.sort(key=lambda d: d[0])
        out.append((cname, np.stack([d[1] for d in drawings])))


def load_omniglot(data_dir, cache_dir):
    """Returns (names sorted, uint8 array [n_chars, 20, 28, 28], strokes high)."""
    paths = [os.path.join(data_dir, a) for a in ARCHIVES]
    for pth in paths:
        if not os.path.isfile(pth):
            raise SystemExit("missing %s (pass --data DIR holding %s)" % (pth, " and ".join(ARCHIVES)))
    key = "-".join("%d_%d" % (os.stat(pth).st_size, int(os.stat(pth).st_mtime)) for pth in paths)
    cache = os.path.join(cache_dir, "omniglot-%d-inv-v%d-%s.npz" % (IMAGE_SIZE, CACHE_VERSION, key))
    if os.path.isfile(cache):
        try:
            with np.load(cache) as z:
                return [str(s) for s in z["names"]], z["images"]
        except Exception as e:  # damaged cache: rebuild
            print("ignoring unreadable cache %s: %s" % (cache, e), file=sys.stderr)
    t0 = time.perf_counter()
    chars = []
    for pth in paths:
        _decode_archive(pth, chars)
    chars.sort(key=lambda c: c[0])
    names = [c[0] for c in chars]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate character names across the archives")
    counts = {c[1].shape[0] for c in chars}
    if counts != {20}:
        raise SystemExit("expected 20 drawings per character, found %s" % sorted(counts))
    images = np.stack([c[1] for c in chars])
    os.makedirs(cache_dir, exist_ok=True)
    tmp = cache + ".tmp-%d.npz" % os.getpid()
    np.savez(tmp, names=np.array(names), images=images)
    os.replace(tmp, cache)
    print("decoded %d characters in %.1fs -> %s" % (len(names), time.perf_counter() - t0, cache),
          file=sys.stderr)
    return names, images


class ClassSet:
    """Few-shot classes: (character index, rotation k in 0..3) pairs."""

    def __init__(self, images, classes):
        self.images = images  # uint8 [n_chars, 20, 28, 28]
        self.classes = classes

    def sample(self, cls, count, rng):
        """`count` distinct drawings of class `cls`, float32 [count, 28, 28] in 0..1."""
        char, k = cls
        imgs = self.images[char, rng.sample(range(self.images.shape[1]), count)]
        if k:
            imgs = np.rot90(imgs, k=k, axes=(1, 2))
        return imgs.astype(np.float32) / np.float32(255.0)


def split_dataset(names, images, split_seed):
    order = list(range(len(names)))  # names are sorted already
    random.Random(split_seed).shuffle(order)
    train_chars, test_chars = order[:N_TRAIN_CHARS], order[N_TRAIN_CHARS:]
    train = ClassSet(images, [(c, k) for c in train_chars for k in range(4)])
    test = ClassSet(images, [(c, 0) for c in test_chars])
    return train, test


def sample_task(dataset, num_classes, num_shots, rng):
    """reptile._sample_mini_dataset: list of (image [28,28], label).  The original
    shuffles the whole class list and takes the first N; rng.sample draws the same
    distribution (N distinct classes in random order) without the O(4800) shuffle."""
    out = []
    for label, cls in enumerate(rng.sample(dataset.classes, num_classes)):
        for img in dataset.sample(cls, num_shots, rng):
            out.append((img, label))
    return out


def mini_batches(samples, batch_size, num_batches, rng):
    """reptile._mini_batches without replacement (partial batches carry over)."""
    samples = list(samples)
    cur, count = [], 0
    while True:
        rng.shuffle(samples)
        for s in samples:
            cur.append(s)
            if len(cur) < batch_size:
                continue
            yield cur
            count += 1
            if count == num_batches:
                return
            cur = []


def split_train_test(samples):
    """reptile._split_train_test with test_shots=1: first example of each label is the query."""
    train = list(samples)
    test = []
    for label in range(max(s[1] for s in train) + 1):
        for i, s in enumerate(train):
            if s[1] == label:
                del train[i]
                test.append(s)
                break
    return train, test


def to_tensors(batch):
    x = torch.from_numpy(np.stack([b[0] for b in batch]))
    y = torch.tensor([b[1] for b in batch], dtype=torch.long)
    return x, y


# ----------------------------------------------------------------------------
# Models (functional over a list of parameter tensors)


def _glorot(shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-limit, limit)


def init_params(model, num_classes):
    if model == "miniimagenet":
        # The paper's Mini-ImageNet CNN (84x84x3, 4 x conv 32 + max-pool: 84->42->21->11->6), for bench/speed_reference.py.
        params, cin = [], 3
        for _ in range(4):
            params += [_glorot((32, cin, 3, 3), 9 * cin, 9 * 32), torch.zeros(32), torch.ones(32), torch.zeros(32)]
            cin = 32
        return params + [_glorot((num_classes, 6 * 6 * 32), 6 * 6 * 32, num_classes), torch.zeros(num_classes)]
    if model == "mlp":
        sizes = [IMAGE_SIZE * IMAGE_SIZE, 64, 64, num_classes]
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            params += [_glorot((b, a), a, b), torch.zeros(b)]
        return params
    params = []
    cin = 1
    for _ in range(4):
        # TF conv kernel fans: fan_in = 3*3*cin, fan_out = 3*3*cout.
        params += [_glorot((64, cin, 3, 3), 9 * cin, 9 * 64), torch.zeros(64),
                   torch.ones(64), torch.zeros(64)]  # conv w, conv b, bn gamma, bn beta
        cin = 64
    params += [_glorot((num_classes, 256), 256, num_classes), torch.zeros(num_classes)]
    return params


def _same_pad(x):
    """TensorFlow 'same' padding for a 3x3 kernel with stride 2: total pad
    (ceil(h/2) - 1) * 2 + 3 - h, the extra one after: even h -> (0, 1), odd h -> (1, 1)."""
    h = x.shape[-1]
    total = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
    before = total // 2
    return F.pad(x, (before, total - before, before, total - before))


def forward(model, params, x):
    """x: [B, 28, 28] float32 -> logits [B, N]."""
    if model == "mlp":
        h = x.reshape(x.shape[0], -1)
        h = F.relu(F.linear(h, params[0], params[1]))
        h = F.relu(F.linear(h, params[2], params[3]))
        return F.linear(h, params[4], params[5])
    if model == "miniimagenet":
        # x: [B, 84, 84, 3]. Stride-1 'same' for 3x3 is a symmetric pad of 1; TF's 'same' 2x2 pool
        # pads odd sizes at the end, which ceil_mode does.
        h = x.permute(0, 3, 1, 2)
        for layer in range(4):
            w, b, g, beta = params[4 * layer:4 * layer + 4]
            h = F.conv2d(h, w, b, padding=1)
            h = F.batch_norm(h, None, None, g, beta, training=True, eps=1e-3)
            h = F.relu(F.max_pool2d(h, 2, 2, ceil_mode=True))
        return F.linear(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1), params[16], params[17])
    h = x.unsqueeze(1)
    for layer in range(4):
        w, b, g, beta = params[4 * layer:4 * layer + 4]
        h = F.conv2d(_same_pad(h), w, b, stride=2)
        h = F.batch_norm(h, None, None, g, beta, training=True, eps=1e-3)
        h = F.relu(h)
    h = h.reshape(h.shape[0], -1)
    return F.linear(h, params[16], params[17])


class TFAdam:
    """tf.train.AdamOptimizer(lr, beta1, beta2, epsilon) over a parameter list."""

    def __init__(self, params, lr, beta1=0.0, beta2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.reset()

    def reset(self):
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads):
        self.t += 1
        lr_t = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, value=-lr_t)


def train_step(model, params, opt, x, y):
    for p in params:
        p.requires_grad_(True)
    loss = F.cross_entropy(forward(model, params, x), y, reduction="sum")
    grads = torch.autograd.grad(loss, params)
    opt.step(grads)


def set_params(params, values):
    with torch.no_grad():
        for p, v in zip(params, values):
            p.copy_(v)


def get_params(params):
    return [p.detach().clone() for p in params]


# ----------------------------------------------------------------------------
# Reptile and evaluation


def meta_train(args, params, train_set, rng):
    opt = TFAdam(params, args.learning_rate)  # persists across tasks (as the original)
    n = args.meta_iters
    t_last = time.perf_counter()
    for i in range(n):
        theta = get_params(params)
        phi_sum = None
        for k in range(args.meta_batch):
            if k > 0:
                set_params(params, theta)
            task = sample_task(train_set, args.classes, args.train_shots, rng)
            for batch in mini_batches(task, args.inner_batch, args.inner_iters, rng):
                x, y = to_tensors(batch)
                train_step(args.model, params, opt, x, y)
            with torch.no_grad():
                if phi_sum is None:
                    phi_sum = get_params(params)
                else:
                    torch._foreach_add_(phi_sum, [p.detach() for p in params])
        frac = i / n
        eps = args.meta_step * (1 - frac) + args.meta_step_final * frac
        with torch.no_grad():
            phi = torch._foreach_div(phi_sum, float(args.meta_batch))
            new = torch._foreach_add(theta, torch._foreach_mul(torch._foreach_sub(phi, theta), eps))
            set_params(params, new)
        if time.perf_counter() - t_last > 30:
            t_last = time.perf_counter()
            print("meta-iteration %d/%d" % (i + 1, n), file=sys.stderr)


def evaluate(args, params, test_set, rng):
    theta = get_params(params)
    accs = []
    t_last = time.perf_counter()
    for task_i in range(args.eval_samples):
        set_params(params, theta)
        opt = TFAdam(params, args.learning_rate)  # fresh per task (DESIGN.md)
        support, queries = split_train_test(
            sample_task(test_set, args.classes, args.shots + 1, rng))
        for batch in mini_batches(support, args.eval_batch, args.eval_iters, rng):
            x, y = to_tensors(batch)
            train_step(args.model, params, opt, x, y)
        with torch.no_grad():
            qx, qy = to_tensors(queries)
            if args.transductive:
                preds = forward(args.model, params, qx).argmax(-1)
            else:
                sx, _ = to_tensors(support)
                preds = torch.stack([
                    forward(args.model, params, torch.cat([sx, qx[j:j + 1]]))[-1].argmax(-1)
                    for j in range(qx.shape[0])])
            accs.append(int((preds == qy).sum()) / len(queries))
        if time.perf_counter() - t_last > 30:
            t_last = time.perf_counter()
            print("eval task %d/%d: accuracy so far %.4f" % (task_i + 1, args.eval_samples,
                                                             float(np.mean(accs))), file=sys.stderr)
    set_params(params, theta)
    a = np.asarray(accs, dtype=np.float64)
    return {
        "ways": args.classes,
        "shots": args.shots,
        "tasks": args.eval_samples,
        "accuracy": float(a.mean()),
        "ci95": float(1.96 * a.std() / math.sqrt(len(a))),
        "transductive": bool(args.transductive),
    }


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names, images = load_omniglot(args.data, args.cache_dir)
    if len(names) <= N_TRAIN_CHARS:
        raise SystemExit("expected more than %d characters, found %d" % (N_TRAIN_CHARS, len(names)))
    train_set, test_set = split_dataset(names, images, args.split_seed)
    if args.classes > len(test_set.classes):
        raise SystemExit("--classes %d exceeds the %d test classes" % (args.classes, len(test_set.classes)))

    torch.manual_seed(args.seed)
    params = init_params(args.model, args.classes)
    train_rng = random.Random(args.seed)
    eval_rng = random.Random(args.seed + 1000003)

    t0 = time.perf_counter()
    meta_train(args, params, train_set, train_rng)
    t_train = time.perf_counter() - t0
    ev = evaluate(args, params, test_set, eval_rng)
    wall = time.perf_counter() - t0

    print(json.dumps({
        "model": args.model,
        "metaIters": args.meta_iters,
        "seed": args.seed,
        "threads": args.threads,
        "trainSeconds": round(t_train, 3),
        "msPerMetaIter": round(1000.0 * t_train / args.meta_iters, 3),
        "eval": ev,
        "evalSeconds": round(wall - t_train, 3),
        "wallSeconds": round(wall, 3),
        "config": {k: v for k, v in vars(args).items() if k not in ("data", "cache_dir")},
    }))


if __name__ == "__main__":
    main()
