#!/usr/bin/python3
"""PyTorch side of `npm run bench`: milliseconds per Reptile meta-iteration and peak RSS for
the issue's three configurations, with the original's Reptile loop (the functions of
omniglot_reference.py and sine_reference.py, so the arithmetic is the one our accuracy
comparisons use). Not used in tests or CI.

  /usr/bin/python3 bench/speed_reference.py --config mlp|conv|sine --threads 1 --meta-iters 100

  mlp:  the article's 784-64-64-5 MLP, Omniglot 5-way, --train-shots 10, --inner-batch 10,
        --inner-iters 5, --meta-batch 5, TF1 Adam lr 0.001 beta1 0 (state persists across tasks)
  conv: the paper's Omniglot CNN (4 x conv 3x3/64 stride 2 + batch norm + ReLU), same settings
  miniimagenet: the paper's Mini-ImageNet CNN (84x84x3, 4 x conv 3x3/32 + batch norm + max-pool
        2x2 + ReLU), 5-way, --train-shots 15, --inner-batch 10, --inner-iters 8, --meta-batch 5,
        TF1 Adam lr 0.001 beta1 0; synthetic 84x84 RGB images (64 classes x 20)
  sine: 1-64-64-1 tanh, meta-batch 1, 5 inner SGD steps of 10 points, lr 0.02

Omniglot-shaped data is synthetic (random 28x28 images, 1623 characters x 20 drawings): speed
does not depend on pixel values, and the benchmark needs no data set. Prints one JSON object:
{"config", "threads", "metaIters", "msPerMetaIter", "peakRssMiB"}.
"""
import argparse
import json
import random
import resource
import time

import numpy as np
import torch

import omniglot_reference as omni
import sine_reference as sine


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=("mlp", "conv", "miniimagenet", "sine"), required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--meta-iters", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    return p.parse_args()


def omniglot_args(model, meta_iters):
    if model == "miniimagenet":
        return argparse.Namespace(model=model, classes=5, train_shots=15, inner_batch=10, inner_iters=8,
                                  learning_rate=0.001, meta_step=1.0, meta_step_final=0.0, meta_batch=5,
                                  meta_iters=meta_iters)
    return argparse.Namespace(model=model, classes=5, train_shots=10, inner_batch=10, inner_iters=5,
                              learning_rate=0.001, meta_step=1.0, meta_step_final=0.0, meta_batch=5,
                              meta_iters=meta_iters)


def time_omniglot(model, meta_iters, warmup):
    rng = random.Random(0)
    if model == "miniimagenet":
        images = np.random.RandomState(0).randint(0, 256, size=(64, 20, 84, 84, 3), dtype=np.uint8)
        train_set = omni.ClassSet(images, [(c, 0) for c in range(64)])
    else:
        images = np.random.RandomState(0).randint(0, 256, size=(1623, 20, 28, 28), dtype=np.uint8)
        train_set, _ = omni.split_dataset([str(i) for i in range(1623)], images, 0)
    torch.manual_seed(0)
    params = omni.init_params(model, 5)
    omni.meta_train(omniglot_args(model, warmup), params, train_set, rng)
    t0 = time.perf_counter()
    omni.meta_train(omniglot_args(model, meta_iters), params, train_set, rng)
    return 1000.0 * (time.perf_counter() - t0) / meta_iters


def time_sine(meta_iters, warmup):
    rng = np.random.RandomState(0)
    torch.manual_seed(0)
    x_all_np = np.linspace(-5, 5, sine.N_GRID)[:, None]
    x_all = torch.from_numpy(x_all_np.astype(np.float32))
    trainer = sine.Trainer(sine.make_model(), 0.02)

    def run(n):
        args = argparse.Namespace(meta_iters=n, meta_batch=1, inner_batch=10, inner_iters=5,
                                  meta_step=0.1, meta_step_final=0.0)
        sine.train_reptile(args, trainer, rng, x_all_np, x_all)

    run(warmup)
    t0 = time.perf_counter()
    run(meta_iters)
    return 1000.0 * (time.perf_counter() - t0) / meta_iters


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.config == "sine":
        ms = time_sine(args.meta_iters, args.warmup)
    else:
        ms = time_omniglot(args.config, args.meta_iters, args.warmup)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"config": args.config, "threads": args.threads, "metaIters": args.meta_iters,
                      "msPerMetaIter": round(ms, 3), "peakRssMiB": round(peak, 1)}))


if __name__ == "__main__":
    main()
