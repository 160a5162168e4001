#!/usr/bin/python3
"""PyTorch reference for the Reptile paper's sine-wave regression (Figure 1).

Faithful, flag-generalised re-implementation of John Schulman's
``reptile-sinewaves-demo.py`` gist, used by benchmarks/docs to compare the
TypeScript ``reptile`` numbers (accuracy and speed) with the original.  It is
NOT used in tests or CI.

Requirements: PyTorch + NumPy for the *system* interpreter, e.g. on Debian
``apt-get install -y python3-torch libopenblas0-pthread``; run it with
``/usr/bin/python3`` (a pyenv ``python3`` earlier on PATH has no torch).

Usage::

    /usr/bin/python3 bench/sine_reference.py                       # gist defaults, 30000 iters
    /usr/bin/python3 bench/sine_reference.py --meta-iters 10000 --seed 1
    /usr/bin/python3 bench/sine_reference.py --algorithm joint --meta-iters 10000
    /usr/bin/python3 bench/sine_reference.py --threads 2 --meta-batch 5 --inner-iters 10

Flags (defaults reproduce the gist): --algorithm reptile|joint (reptile),
--meta-iters 30000, --meta-batch 1, --inner-batch 10, --inner-iters 5,
--learning-rate 0.02, --meta-step 0.1, --meta-step-final 0.0,
--eval-samples 1000, --eval-iters 32, --seed 0, --threads 1.

Setup
  * Task: f(x) = A sin(x + b), b ~ U[0, 2pi], A ~ U[0.1, 5] (drawn in that
    order, as in the gist); x grid = np.linspace(-5, 5, 50).
  * Model: Linear(1,64)-Tanh-Linear(64,64)-Tanh-Linear(64,1), PyTorch default
    init, float32.
  * Reptile, per meta-iteration i (0-based): for each of --meta-batch tasks,
    start from theta, permute the 50 grid points and take consecutive
    minibatches of --inner-batch points (a trailing partial slice is used as
    a batch, like the gist's slicing; the grid is re-permuted when
    exhausted) for --inner-iters plain SGD steps (lr --learning-rate, MSE
    averaged over the minibatch).  Then
        theta <- theta + eps * (mean_k phi_k - theta),
        eps = meta_step + (meta_step_final - meta_step) * i / meta_iters.
  * Joint training baseline (--algorithm joint): meta_iters * meta_batch *
    inner_iters SGD steps (lr --learning-rate) directly on theta, each on
    --inner-batch distinct grid points of a freshly sampled task.
  * Evaluation (after training) on --eval-samples new tasks drawn from a
    separate RNG stream, np.random.RandomState([seed, 1]): per task pick 10
    grid points with rng.choice(50, size=10) (with replacement, as in the
    gist), do --eval-iters full-batch SGD steps on them from theta (theta is
    restored afterwards) and measure the MSE over the 50-point grid after 0,
    1 and --eval-iters steps.  ci95 = 1.96 * std / sqrt(n) (population std
    over the per-task MSEs).

Reproducibility: the training stream is np.random.RandomState(seed) plus
torch.manual_seed(seed) exactly as in the gist, including the gist's draw of
its fixed plotting task and plotting minibatch before training, and the same
float32 arithmetic order for the SGD and interpolation updates.  With the
default flags the trained weights are therefore bit-identical to the gist's
(given the same PyTorch/NumPy build and thread count).

Output: one JSON object on stdout:
  {"algorithm", "metaIters", "seed", "threads", "wallSeconds",
   "msPerMetaIter", "eval": {"tasks", "mseBefore", "mseAfter1", "mseAfter",
   "ci95", "ci95Before"}}
where mseAfter/ci95 refer to the MSE after --eval-iters steps, wallSeconds is
the wall time of training + evaluation (model construction excluded) and
msPerMetaIter is the meta-training loop's wall time / meta_iters only.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn

N_GRID = 50
N_EVAL_POINTS = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch reference for Reptile sine-wave regression")
    p.add_argument("--algorithm", choices=("reptile", "joint"), default="reptile")
    p.add_argument("--meta-iters", type=int, default=30000)
    p.add_argument("--meta-batch", type=int, default=1)
    p.add_argument("--inner-batch", type=int, default=10)
    p.add_argument("--inner-iters", type=int, default=5)
    p.add_argument("--learning-rate", type=float, default=0.02)
    p.add_argument("--meta-step", type=float, default=0.1)
    p.add_argument("--meta-step-final", type=float, default=0.0)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--eval-iters", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.inner_batch < 1 or args.inner_batch > N_GRID:
        p.error("--inner-batch must be in [1, %d]" % N_GRID)
    for name in ("meta_iters", "meta_batch", "inner_iters", "eval_samples"):
        if getattr(args, name) < 1:
            p.error("--%s must be >= 1" % name.replace("_", "-"))
    if args.eval_iters < 1:
        p.error("--eval-iters must be >= 1")
    return args


def gen_task(rng):
    """Same draw order as the gist: phase first, then amplitude."""
    phase = rng.uniform(low=0, high=2 * np.pi)
    ampl = rng.uniform(0.1, 5)
    return phase, ampl


def task_y(x_np, phase, ampl):
    """float64 targets, like the gist's ``np.sin(x + phase) * ampl``."""
    return np.sin(x_np + phase) * ampl


def make_model():
    return nn.Sequential(
        nn.Linear(1, 64),
        nn.Tanh(),
        nn.Linear(64, 64),
        nn.Tanh(),
        nn.Linear(64, 1),
    )


class Trainer:
    def __init__(self, model, lr):
        self.model = model
        self.params = list(model.parameters())
        self.lr = lr

    def sgd_step(self, x, y):
        """One plain SGD step on MSE; same float32 ops as the gist's
        ``param.data -= innerstepsize * param.grad.data``."""
        loss = (self.model(x) - y).pow(2).mean()
        grads = torch.autograd.grad(loss, self.params)
        with torch.no_grad():
            torch._foreach_sub_(self.params, torch._foreach_mul(grads, self.lr))

    def get(self):
        return [p.detach().clone() for p in self.params]

    def set(self, tensors):
        with torch.no_grad():
            for p, t in zip(self.params, tensors):
                p.copy_(t)


def train_reptile(args, trainer, rng, x_all_np, x_all):
    n_iter = args.meta_iters
    ms0, ms1 = args.meta_step, args.meta_step_final
    params = trainer.params
    for iteration in range(n_iter):
        theta = trainer.get()
        phi_sum = None
        for k in range(args.meta_batch):
            if k > 0:
                trainer.set(theta)
            phase, ampl = gen_task(rng)
            y_all = torch.from_numpy(
                task_y(x_all_np, phase, ampl).astype(np.float32))
            inds = rng.permutation(N_GRID)
            start = 0
            for _ in range(args.inner_iters):
                if start >= N_GRID:
                    inds = rng.permutation(N_GRID)
                    start = 0
                mb = torch.from_numpy(inds[start:start + args.inner_batch])
                start += args.inner_batch
                trainer.sgd_step(x_all[mb], y_all[mb])
            if args.meta_batch > 1:
                with torch.no_grad():
                    if phi_sum is None:
                        phi_sum = [p.detach().clone() for p in params]
                    else:
                        torch._foreach_add_(phi_sum, params)
        # eps = ms0 + (ms1 - ms0) * frac, written so that with ms1 == 0 it is
        # the gist's outerstepsize0 * (1 - iteration / niterations) bit-for-bit.
        frac = iteration / n_iter
        eps = ms0 * (1 - frac) + ms1 * frac
        with torch.no_grad():
            if phi_sum is None:
                phi = [p.detach() for p in params]
            else:
                phi = torch._foreach_div(phi_sum, float(args.meta_batch))
            # theta + (phi - theta) * eps, the gist's arithmetic order.
            new = torch._foreach_add(
                theta, torch._foreach_mul(torch._foreach_sub(phi, theta), eps))
            trainer.set(new)


def train_joint(args, trainer, rng, x_all_np, x_all):
    n_steps = args.meta_iters * args.meta_batch * args.inner_iters
    for _ in range(n_steps):
        phase, ampl = gen_task(rng)
        inds = rng.choice(N_GRID, size=args.inner_batch, replace=False)
        x = x_all_np[inds]
        y = torch.from_numpy(task_y(x, phase, ampl).astype(np.float32))
        trainer.sgd_step(x_all[torch.from_numpy(inds)], y)


def evaluate(args, trainer, x_all_np, x_all):
    rng = np.random.RandomState([args.seed, 1])
    theta = trainer.get()
    before, after1, after = [], [], []

    def grid_mse(y_all):
        with torch.no_grad():
            pred = trainer.model(x_all).numpy()
        return float(np.square(pred - y_all).mean())

    for _ in range(args.eval_samples):
        phase, ampl = gen_task(rng)
        inds = rng.choice(N_GRID, size=N_EVAL_POINTS)
        y_all = task_y(x_all_np, phase, ampl)
        x_tr = x_all[torch.from_numpy(inds)]
        y_tr = torch.from_numpy(y_all[inds].astype(np.float32))
        trainer.set(theta)
        before.append(grid_mse(y_all))
        for step in range(args.eval_iters):
            trainer.sgd_step(x_tr, y_tr)
            if step == 0:
                after1.append(grid_mse(y_all))
        after.append(grid_mse(y_all))
    trainer.set(theta)

    def ci(v):
        v = np.asarray(v, dtype=np.float64)
        return float(1.96 * v.std() / math.sqrt(len(v)))

    return {
        "tasks": args.eval_samples,
        "mseBefore": float(np.mean(before)),
        "mseAfter1": float(np.mean(after1)),
        "mseAfter": float(np.mean(after)),
        "ci95": ci(after),
        "ci95Before": ci(before),
    }


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)

    # Same RNG set-up and consumption order as the gist.
    rng = np.random.RandomState(args.seed)
    torch.manual_seed(args.seed)
    x_all_np = np.linspace(-5, 5, N_GRID)[:, None]
    x_all = torch.from_numpy(x_all_np.astype(np.float32))
    model = make_model()
    # The gist draws its fixed plotting task and minibatch before training;
    # consume them so the training task stream matches the gist's.
    gen_task(rng)
    rng.choice(N_GRID, size=N_EVAL_POINTS)

    trainer = Trainer(model, args.learning_rate)
    t0 = time.perf_counter()
    if args.algorithm == "reptile":
        train_reptile(args, trainer, rng, x_all_np, x_all)
    else:
        train_joint(args, trainer, rng, x_all_np, x_all)
    t_train = time.perf_counter() - t0
    ev = evaluate(args, trainer, x_all_np, x_all)
    wall = time.perf_counter() - t0

    print(json.dumps({
        "algorithm": args.algorithm,
        "metaIters": args.meta_iters,
        "seed": args.seed,
        "threads": args.threads,
        "wallSeconds": round(wall, 3),
        "msPerMetaIter": round(1000.0 * t_train / args.meta_iters, 4),
        "eval": ev,
    }))


if __name__ == "__main__":
    main()
