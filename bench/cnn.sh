#!/usr/bin/env bash
# The reference CNN (bench/cnn-sgd.json: conv3x3x16-relu-maxpool2-conv3x3x32-
# relu-maxpool2-dense128-relu-dense10, batch 64, SGD lr 0.01 momentum 0.9) on
# Fashion-MNIST's 60,000 training images, trained by `traind train` with 1
# and 2 threads and by PyTorch (bench/torch_rival.py cnn) in the same run.
# Prints samples/s (the median epoch), GFLOP/s, peak RSS, and traind's best
# over PyTorch's best.  Asserts nothing.
#
# FLOP per sample are traind's count of the multiply-adds of the
# convolutions and matrix products, forward + backward (the first layer
# computes no input gradient):
#   forward   2 * (16*28*28*1*9 + 32*14*14*16*9 + 1568*128 + 128*10) = 2.436 M
#   backward  twice the forward, less the first conv's input gradient
#   total     7.08 MFLOP per sample
# PyTorch's GFLOP/s use the same count.
#
#   BENCH_EPOCHS=3             epochs per measurement (the median epoch is reported)
#   BATCHES="64 32 128 256"    batch sizes, one round each
#   FMNIST_DIR=...             where the IDX files are
#   TRAIND=./traind            the program to measure
#   TORCH_SETTINGS="1/1 1/2 2/1 2/2"   PyTorch runs: torch threads / OpenBLAS threads
#
# (bench/compare.sh does the measuring; these variables are its.)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== CNN conv3x3x16-relu-maxpool2-conv3x3x32-relu-maxpool2-dense128-relu-dense10"
echo "   on Fashion-MNIST (60000 images), SGD lr 0.01 momentum 0.9, median of ${BENCH_EPOCHS:-3} epochs"
echo "   targets: >= 2x PyTorch's best, 2 threads >= 1.8x one, >= 50% of the 2-core FMA peak"
BATCHES=${BATCHES:-"64 32 128 256"} TARGET_PEAK=0.5 TARGET_SCALE=1.8 \
  exec bench/compare.sh bench/cnn-sgd.json cnn
