#!/usr/bin/env bash
# make bench: the Fashion-MNIST MLP (bench/mlp-sgd.json: 784-256-128-10,
# SGD lr 0.1, batch 64) trained by traind with 1 and 2 threads and, when
# Debian's python3-torch is installed, by PyTorch in the same run; then the
# example definition's full run for its accuracy and peak memory; then the
# same comparison for the reference CNN (bench/cnn.sh) and for LSTM(128) and
# RNN(128) on image rows (bench/rnn.sh), the server's overhead
# (bench/server.sh), and the CNN's and the LSTM's full accuracy runs through
# the REST API.
# Prints figures; asserts nothing.
#
#   BENCH_EPOCHS=3      epochs per measurement (the median epoch is reported)
#   FMNIST_DIR=...      where the IDX files are
#
# When OPENBLAS_CORETYPE is set in the environment, every measurement is
# made twice: with it (as this machine is configured) and without it
# (OpenBLAS's own choice for the CPU), for both programs alike.
set -euo pipefail
cd "$(dirname "$0")/.."

F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${BENCH_EPOCHS:-3}
TRAIN=("$F/train-images-idx3-ubyte.gz" "$F/train-labels-idx1-ubyte.gz")
TEST=("$F/t10k-images-idx3-ubyte.gz" "$F/t10k-labels-idx1-ubyte.gz")
PY=/usr/bin/python3

have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi

best_traind=0
best_torch=0

# traind THREADS -> prints a table row; updates best_traind
traind_row() {
  local out rate gflops rss
  out=$(./traind train --model bench/mlp-sgd.json --train "${TRAIN[@]}" --epochs "$EPOCHS" \
        --threads "$1" --quiet)
  rate=$(sed -n 's/^speed: median \([0-9]*\) samples.*/\1/p' <<<"$out")
  gflops=$(sed -n 's/.*; \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak RSS \([0-9]*\) MB$/\1/p' <<<"$out")
  printf '  %-34s %10s %9s %8s MB\n' "traind, $1 thread(s)" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_traind" ] && best_traind=$rate
  return 0
}

# torch TORCH_THREADS BLAS_THREADS
torch_row() {
  local out rate rss gflops
  out=$(OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$PY" bench/torch_rival.py --threads "$1" \
        --epochs "$EPOCHS" --data "$F")
  rate=$(sed -n 's/^RESULT samples_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak_rss_mb=\([0-9]*\).*/\1/p' <<<"$out")
  gflops=$(awk -v r="$rate" -v f="$FLOPS" 'BEGIN { printf "%.1f", r * f / 1e9 }')
  printf '  %-34s %10s %9s %8s MB\n' "PyTorch, torch $1 / OpenBLAS $2" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_torch" ] && best_torch=$rate
  return 0
}

round() {
  best_traind=0
  best_torch=0
  printf '  %-34s %10s %9s %11s\n' "" "samples/s" "GFLOP/s" "peak RSS"
  traind_row 1
  traind_row 2
  if [ "$have_torch" = 1 ]; then
    torch_row 1 1
    torch_row 1 2
    torch_row 2 1
    torch_row 2 2
    awk -v a="$best_traind" -v b="$best_torch" \
      'BEGIN { printf "  best traind / best PyTorch: %d / %d = %.2fx\n", a, b, a / b }'
  else
    echo "  (python3-torch is not installed: no PyTorch figures; apt-get install python3-torch)"
  fi
}

FLOPS=$(./traind train --model bench/mlp-sgd.json --train "${TRAIN[@]}" --epochs 1 --quiet \
        | sed -n 's/.*(\([0-9.e+]*\) FLOP per sample).*/\1/p')
echo "== MLP 784-256-128-10 on Fashion-MNIST, batch 64, SGD lr 0.1, median of $EPOCHS epochs"
echo "   $(nproc) cores; ${FLOPS} FLOP per training sample (matrix products, forward + backward)"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "-- with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (as set in this environment)"
  round
  echo "-- without OPENBLAS_CORETYPE (OpenBLAS picks its kernels for this CPU)"
  ( unset OPENBLAS_CORETYPE; round )
else
  round
fi

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
