#!/usr/bin/env bash
# Recurrent networks on Fashion-MNIST's rows as sequences (model input
# [28, 28]: 28 steps of 28 features), batch 64, SGD lr 0.01 momentum 0.9:
#   bench/rnn-lstm.json   lstm 128 (last step) -> dense 10 softmax
#   bench/rnn-rnn.json    rnn 128 (tanh, last step) -> dense 10 softmax
# each trained by `traind train` with 1 and 2 threads and by PyTorch
# (bench/torch_rival.py lstm|rnn: nn.LSTM / nn.RNN, batch_first, the same
# network, batch, optimizer and data) in the same run.  Prints samples/s (the
# median epoch), GFLOP/s, peak RSS, and traind's best over PyTorch's best
# for each network.  Asserts nothing.
#
# FLOP per sample are traind's count of the matrix products, forward +
# backward (the first layer computes no input gradient), G gate blocks
# (lstm 4, rnn 1), T = 28, F = 28, H = 128:
#   forward   2 T F GH + 2 (T-1) H GH          (h_{-1} = 0 is not multiplied)
#   backward  2 T F GH + 2 T H GH + 2 (T-1) H GH   (dW_ih, dW_hh, dh)
#   lstm 12.36 M, rnn 3.10 M per sample, with the dense layer
# PyTorch's GFLOP/s use the same count.
#
#   RNN_MODELS="lstm rnn"      which networks
# and bench/compare.sh's variables (BENCH_EPOCHS, TRAIND, TORCH_SETTINGS, ...),
# which does the measuring.
set -euo pipefail
cd "$(dirname "$0")/.."

for kind in ${RNN_MODELS:-lstm rnn}; do
  case $kind in
    lstm) what="LSTM(128) -> dense 10" ;;
    rnn) what="RNN(128, tanh) -> dense 10" ;;
    *) echo "rnn.sh: unknown network '$kind' (lstm or rnn)" >&2; exit 2 ;;
  esac
  echo "== $what on Fashion-MNIST rows as sequences (28 steps x 28 features, 60000 images),"
  echo "   batch 64, SGD lr 0.01 momentum 0.9, median of ${BENCH_EPOCHS:-3} epochs"
  echo "   targets: >= 2x PyTorch's best, >= 60% of the 2-core FMA peak"
  TARGET_PEAK=0.6 TARGET_SCALE=0 bench/compare.sh "bench/rnn-$kind.json" "$kind"
  echo
done
