#!/usr/bin/env bash
# make bench: the Fashion-MNIST MLP (bench/mlp-sgd.json: 784-256-128-10,
# SGD lr 0.1, batch 64) trained by traind with 1 and 2 threads and, when
# Debian's python3-torch is installed, by PyTorch in the same run; then the
# example definition's full run for its accuracy and peak memory; then the
# same comparison for the reference CNN (bench/cnn.sh) and for LSTM(128) and
# RNN(128) on image rows (bench/rnn.sh), the server's overhead
# (bench/server.sh), and the CNN's and the LSTM's full accuracy runs through
# the REST API; last, tabular data against scikit-learn's MLP
# (bench/tabular.sh).
# Prints figures; asserts nothing.
#
#   BENCH_EPOCHS=3      epochs per measurement (the median epoch is reported)
#   BATCHES="64 32 128 256"   batch sizes of the MLP and CNN comparisons
#   FMNIST_DIR=...      where the IDX files are
#
# bench/compare.sh makes each comparison (see there for its variables).
set -euo pipefail
cd "$(dirname "$0")/.."

F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${BENCH_EPOCHS:-3}
TRAIN=("$F/train-images-idx3-ubyte.gz" "$F/train-labels-idx1-ubyte.gz")
TEST=("$F/t10k-images-idx3-ubyte.gz" "$F/t10k-labels-idx1-ubyte.gz")

echo "== MLP 784-256-128-10 on Fashion-MNIST, SGD lr 0.1, median of $EPOCHS epochs"
echo "   targets: >= 2x PyTorch's best, 2 threads >= 1.8x one, >= 60% of the 2-core FMA peak"
TORCH_SETTINGS=${TORCH_SETTINGS:-"1/1 1/2 2/1 2/2"} BATCHES=${BATCHES:-"64 32 128 256"} \
  TARGET_PEAK=0.6 TARGET_SCALE=1.8 bench/compare.sh bench/mlp-sgd.json mlp

echo
echo "== examples/fmnist-mlp.json (Adam, 10 epochs, validation split 0.1), $(nproc) threads"
./traind train --model examples/fmnist-mlp.json --train "${TRAIN[@]}" --test "${TEST[@]}" --quiet \
  | sed 's/^/  /'

echo
bench/cnn.sh
echo
bench/rnn.sh
echo
bench/server.sh
echo
bench/cnn_api.sh
echo
bench/rnn_api.sh
echo
bench/tabular.sh
