#!/usr/bin/python3
"""The rival in bench/run.sh: PyTorch training the same networks as
bench/mlp-sgd.json (784-256-128-10, ReLU, cross-entropy, SGD lr 0.1),
bench/cnn-sgd.json (conv3x3x16-relu-maxpool2-conv3x3x32-relu-maxpool2-
dense128-relu-dense10, SGD lr 0.01 momentum 0.9), and, in bench/rnn.sh,
bench/rnn-lstm.json and bench/rnn-rnn.json (nn.LSTM(28, 128) or
nn.RNN(28, 128, tanh) over the 28 rows of an image, batch_first, its last
step into Linear(128, 10); SGD lr 0.01 momentum 0.9), batch 64, on
Fashion-MNIST, on the CPU.

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


class Recurrent(torch.nn.Module):
    """A recurrent layer over the rows of an image, its last step into a
    linear classifier: model input [28, 28], as traind's definitions."""

    def __init__(self, kind):
        super().__init__()
        cell = torch.nn.LSTM if kind == "lstm" else torch.nn.RNN
        self.rnn = cell(28, 128, batch_first=True)
        self.fc = torch.nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def network(kind):
    nn = torch.nn
    if kind in ("lstm", "rnn"):
        return Recurrent(kind)
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def minibatches(x, y, batch, gen, shape):
    order = torch.randperm(len(x), generator=gen)
    return [(x[i].reshape(shape).contiguous(), y[i].contiguous()) for i in order.split(batch)]


def train(model, opt, batches):
    for xb, yb in batches:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="mlp", choices=["mlp", "cnn", "lstm", "rnn"])
    ap.add_argument("--data", default=os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    args = ap.parse_args()

    lr = args.lr if args.lr is not None else (0.1 if args.model == "mlp" else 0.01)
    momentum = args.momentum if args.momentum is not None else (0.0 if args.model == "mlp" else 0.9)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    shape = {"cnn": (-1, 1, 28, 28), "lstm": (-1, 28, 28), "rnn": (-1, 28, 28)}.get(args.model, (-1, 784))

    # warm-up on a throw-away copy, so that lazy initialisation is not timed
    scratch = network(args.model)
    train(scratch, torch.optim.SGD(scratch.parameters(), lr=lr, momentum=momentum),
          minibatches(xtr, ytr, args.batch, gen, shape)[:50])

    model = network(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rates = []
    for epoch in range(1, args.epochs + 1):
        batches = minibatches(xtr, ytr, args.batch, gen, shape)
        t0 = time.perf_counter()
        train(model, opt, batches)
        dt = time.perf_counter() - t0
        rates.append(len(xtr) / dt)
        print("epoch %d: %.0f samples/s" % (epoch, rates[-1]), flush=True)
    with torch.no_grad():   # in chunks, so that the test pass does not set the peak RSS
        xs = xte.reshape(shape)
        hits = sum((model(xs[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                   for i in range(0, len(xs), 1000))
        acc = hits / len(xs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT samples_per_sec=%.0f test_accuracy=%.4f peak_rss_mb=%.0f torch=%s" % (
        statistics.median(rates), acc, rss, torch.__version__))


if __name__ == "__main__":
    main()
