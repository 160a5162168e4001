"""PyTorch interop check (not in CI: it needs Debian's PyTorch; docs/interop.md has the commands).

(a) Ours -> PyTorch: trains a tiny Omniglot MLP run and a tiny Omniglot CNN run with our CLI (or
    takes --mlp-run / --cnn-run), exports each with `reptile export --format safetensors`, loads
    it into bench/reptile_models.py's module with a strict load_state_dict, and compares the
    module's logits with ours (bench/interop-logits.ts) on the same inputs.
(b) PyTorch -> ours: meta-trains each module with a few Reptile iterations in PyTorch on Omniglot
    (bench/omniglot_reference.py's data and task sampling), saves its state_dict as safetensors,
    compares our logits for those parameters with PyTorch's, and evaluates them with
    `reptile eval RUN --init-from FILE` (the run's evaluation protocol).

Prints the max abs logit difference of each check and fails when one exceeds --tolerance (1e-5).

    npm run build && apt-get install -y python3-torch libopenblas0-pthread
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/pytorch_interop.py
"""

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import omniglot_reference as ref  # noqa: E402
from reptile_models import load_safetensors, module_for_spec, save_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(REPO, "dist", "src", "cli", "main.js")
LOGITS = os.path.join(REPO, "dist", "bench", "interop-logits.js")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=ref.default_data_dir(), help="Omniglot archives")
    p.add_argument("--work", default=None, help="where runs and files go (default: a temp dir)")
    p.add_argument("--mlp-run", default=None, help="an existing Omniglot MLP run (default: train a tiny one)")
    p.add_argument("--cnn-run", default=None, help="an existing Omniglot CNN run (default: train a tiny one)")
    p.add_argument("--torch-meta-iters", type=int, default=100, help="Reptile iterations in PyTorch for (b)")
    p.add_argument("--eval-samples", type=int, default=100, help="tasks for reptile eval --init-from in (b)")
    p.add_argument("--batch", type=int, default=25, help="inputs compared per check")
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def node(args, env):
    print("$ node " + " ".join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in args), file=sys.stderr)
    subprocess.run(["node"] + args, check=True, env=env, stdout=sys.stderr)


def train_run(kind, out, args, env):
    common = ["--data", args.data, "--eval-interval", "0", "--eval-samples", "20", "--baseline", "none", "--seed", str(args.seed), "--out", out, "--force"]
    iters = {"mlp": "200", "conv": "20"}[kind]
    node([CLI, "train", "omniglot", "--model", kind, "--meta-iters", iters] + common, env)
    return out


def our_logits(run, x, work, env, params=None):
    inputs, out = os.path.join(work, "x.safetensors"), os.path.join(work, "logits.safetensors")
    save_safetensors({"x": x}, inputs)
    node([LOGITS, run, inputs, out] + (["--params", params] if params else []), env)
    tensors, metadata = load_safetensors(out)
    BACKENDS.add(metadata["backend"])
    return tensors["logits"]


BACKENDS = set()


def torch_input(module, x):
    """Our inputs are NHWC [B, 28, 28, 1] (or flat for the MLP); the CNN takes NCHW."""
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


LOGIT_SCALE = [0.0]


def max_diff(a, b):
    LOGIT_SCALE[0] = max(LOGIT_SCALE[0], float(b.abs().max()))
    return float((a - b).abs().max())


def sample_inputs(test_set, kind, batch, rng):
    """`batch` Omniglot test drawings, [B, 28, 28, 1] (CNN) or [B, 784] (MLP)."""
    images = np.stack([test_set.sample(c, 1, rng)[0] for c in rng.sample(test_set.classes, batch)])
    x = torch.from_numpy(images)
    return x.reshape(batch, -1) if kind == "mlp" else x.unsqueeze(-1)


def torch_reptile(module, train_set, meta_iters, rng):
    """A few of Reptile's meta-iterations in PyTorch: 5-way 10-shot tasks, 5 inner Adam steps
    (beta1 0, as the paper) on minibatches of 10, meta-step 1 annealed to 0."""
    for it in range(meta_iters):
        before = copy.deepcopy(module.state_dict())
        opt = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.0, 0.999))
        task = ref.sample_task(train_set, 5, 10, rng)
        for batch in ref.mini_batches(task, 10, 5, rng):
            x, y = ref.to_tensors(batch)
            opt.zero_grad()
            # x is [B, 28, 28]: MetaModel flattens it, ConvModel adds the channel axis.
            torch.nn.functional.cross_entropy(module(x), y).backward()
            opt.step()
        step = 1.0 * (1 - it / meta_iters)
        with torch.no_grad():
            after = module.state_dict()
            module.load_state_dict({k: before[k] + step * (after[k] - before[k]) for k in before})


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    work = args.work or tempfile.mkdtemp(prefix="reptile-interop-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, REPTILE_CACHE_DIR=os.path.join(work, "cache"))
    names, images = ref.load_omniglot(args.data, os.path.join(work, "cache-py"))
    train_set, test_set = ref.split_dataset(names, images, 0)
    rng = random.Random(args.seed)
    results = {}
    for kind, given in (("mlp", args.mlp_run), ("conv", args.cnn_run)):
        run = given or train_run(kind, os.path.join(work, "run-" + kind), args, env)
        export = os.path.join(work, kind + ".safetensors")
        node([CLI, "export", run, "--format", "safetensors", "--out", export], env)
        tensors, metadata = load_safetensors(export)
        spec = json.loads(metadata["modelSpec"])
        module = module_for_spec(spec)
        module.load_state_dict(tensors, strict=True)
        x = sample_inputs(test_set, kind, args.batch, rng)
        with torch.no_grad():
            theirs = module(torch_input(module, x))
        ours = our_logits(run, x, work, env)
        results["ours->torch " + kind] = max_diff(ours, theirs)
        if kind == "conv":
            # The control: PyTorch's usual symmetric padding=1 instead of TensorFlow's 'same'.
            module.tf_padding = False
            with torch.no_grad():
                results["control, symmetric padding: conv"] = max_diff(ours, module(torch_input(module, x)))

        # (b) PyTorch-trained parameters in our evaluation.
        trained = module_for_spec(spec)
        torch_reptile(trained, train_set, args.torch_meta_iters, rng)
        torch_file = os.path.join(work, kind + "-torch.safetensors")
        save_safetensors(trained.state_dict(), torch_file)
        with torch.no_grad():
            theirs = trained(torch_input(trained, x))
        ours = our_logits(run, x, work, env, params=torch_file)
        results["torch->ours " + kind] = max_diff(ours, theirs)
        eval_json = os.path.join(work, kind + "-torch-eval.json")
        node([CLI, "eval", run, "--init-from", torch_file, "--eval-samples", str(args.eval_samples), "--json", eval_json], env)
        with open(eval_json) as f:
            evaluation = json.load(f)["eval"]
        results["reptile eval --init-from (PyTorch Reptile, %d iters) %s accuracy" % (args.torch_meta_iters, kind)] = evaluation["accuracy"]
    # (c) The Mini-ImageNet CNN (stride-1 convs, max-pool 2x2 'same': 21 -> 11 and 11 -> 6 pad
    # at the bottom/right) without its data: PyTorch's initialisation, uniform inputs.
    spec = {"kind": "conv", "variant": "miniimagenet", "inputShape": [84, 84, 3], "classes": 5, "filters": 32, "init": "tensorflow"}
    module = module_for_spec(spec)
    torch_file = os.path.join(work, "miniimagenet-torch.safetensors")
    save_safetensors(module.state_dict(), torch_file, {"modelSpec": json.dumps(spec)})
    x = torch.rand(args.batch, 84, 84, 3, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        theirs = module(torch_input(module, x))
    results["torch->ours miniimagenet (initialised)"] = max_diff(our_logits(torch_file, x, work, env), theirs)
    print(json.dumps(results, indent=2))
    print("our backend: %s; largest |logit|: %.3g" % (", ".join(sorted(BACKENDS)), LOGIT_SCALE[0]))
    worst = max(v for k, v in results.items() if "->" in k)
    print("chance: %.2f (5-way)" % 0.2)
    print("max abs logit difference: %.3g (tolerance %.0e)" % (worst, args.tolerance))
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
