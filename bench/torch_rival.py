#!/usr/bin/python3
"""The rival in bench/run.sh: PyTorch training the same network as
bench/mlp-sgd.json (784-256-128-10, ReLU, cross-entropy, SGD lr 0.1,
batch 64) on Fashion-MNIST, on the CPU.

Each epoch's minibatches are built before its timer starts, so only the
forward pass, loss, backward pass and optimizer step are timed (traind's
figure also includes gathering its batches).  Prints one line per epoch and
a final line:  RESULT samples_per_sec=<median> test_accuracy=<a> peak_rss_mb=<m>
"""
import argparse
import gzip
import os
import resource
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(folder, prefix):
    x = read_idx(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(y.astype(np.int64))


def network():
    return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))


def minibatches(x, y, batch, gen):
    order = torch.randperm(len(x), generator=gen)
    return [(x[i].contiguous(), y[i].contiguous()) for i in order.split(batch)]


def train(model, opt, batches):
    for xb, yb in batches:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")

    # warm-up on a throw-away copy, so that lazy initialisation is not timed
    scratch = network()
    train(scratch, torch.optim.SGD(scratch.parameters(), lr=args.lr),
          minibatches(xtr, ytr, args.batch, gen)[:50])

    model = network()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    rates = []
    for epoch in range(1, args.epochs + 1):
        batches = minibatches(xtr, ytr, args.batch, gen)
        t0 = time.perf_counter()
        train(model, opt, batches)
        dt = time.perf_counter() - t0
        rates.append(len(xtr) / dt)
        print("epoch %d: %.0f samples/s" % (epoch, rates[-1]), flush=True)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT samples_per_sec=%.0f test_accuracy=%.4f peak_rss_mb=%.0f torch=%s" % (
        statistics.median(rates), acc, rss, torch.__version__))


if __name__ == "__main__":
    main()
