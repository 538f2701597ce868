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
#   BENCH_EPOCHS=3             epochs per measurement (the median epoch is reported)
#   FMNIST_DIR=...             where the IDX files are
#   TRAIND=./traind            the program to measure
#   TORCH_SETTINGS="1/1 2/2"   PyTorch runs: torch threads / OpenBLAS threads
#   RNN_MODELS="lstm rnn"      which networks
set -euo pipefail
cd "$(dirname "$0")/.."

F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${BENCH_EPOCHS:-3}
TRAIND=${TRAIND:-./traind}
TORCH_SETTINGS=${TORCH_SETTINGS:-"1/1 2/2"}
RNN_MODELS=${RNN_MODELS:-"lstm rnn"}
TRAIN=("$F/train-images-idx3-ubyte.gz" "$F/train-labels-idx1-ubyte.gz")
PY=/usr/bin/python3

have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi

best_traind=0
best_torch=0
FLOPS=0

row() {   # LABEL RATE GFLOPS RSS_MB
  printf '  %-34s %10s %9s %8s MB\n' "$1" "$2" "$3" "$4"
}

# traind KIND THREADS -> prints a table row; updates best_traind and FLOPS
traind_row() {
  local out rate gflops rss
  out=$("$TRAIND" train --model "bench/rnn-$1.json" --train "${TRAIN[@]}" --epochs "$EPOCHS" \
        --threads "$2" --quiet)
  rate=$(sed -n 's/^speed: median \([0-9]*\) samples.*/\1/p' <<<"$out")
  gflops=$(sed -n 's/.*; \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak RSS \([0-9]*\) MB$/\1/p' <<<"$out")
  FLOPS=$(sed -n 's/.*(\([0-9.e+]*\) FLOP per sample).*/\1/p' <<<"$out")
  row "traind, $2 thread(s)" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_traind" ] && best_traind=$rate
  return 0
}

# torch KIND TORCH_THREADS BLAS_THREADS
torch_row() {
  local out rate rss gflops
  out=$(OMP_NUM_THREADS=$2 OPENBLAS_NUM_THREADS=$3 "$PY" bench/torch_rival.py "$1" \
        --threads "$2" --epochs "$EPOCHS" --data "$F")
  rate=$(sed -n 's/^RESULT samples_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak_rss_mb=\([0-9]*\).*/\1/p' <<<"$out")
  gflops=$(awk -v r="$rate" -v f="$FLOPS" 'BEGIN { printf "%.1f", r * f / 1e9 }')
  row "PyTorch, torch $2 / OpenBLAS $3" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_torch" ] && best_torch=$rate
  return 0
}

round() {   # KIND
  best_traind=0
  best_torch=0
  printf '  %-34s %10s %9s %11s\n' "" "samples/s" "GFLOP/s" "peak RSS"
  traind_row "$1" 1
  traind_row "$1" 2
  if [ "$have_torch" = 1 ]; then
    local s
    for s in $TORCH_SETTINGS; do
      torch_row "$1" "${s%/*}" "${s#*/}"
    done
    awk -v k="$1" -v a="$best_traind" -v b="$best_torch" \
      'BEGIN { printf "  %s: best traind / best PyTorch: %d / %d = %.2fx\n", k, a, b, a / b }'
  else
    echo "  (python3-torch is not installed: no PyTorch figures; apt-get install python3-torch)"
  fi
}

for kind in $RNN_MODELS; do
  case $kind in
    lstm) what="LSTM(128) -> dense 10" ;;
    rnn) what="RNN(128, tanh) -> dense 10" ;;
    *) echo "rnn.sh: unknown network '$kind' (lstm or rnn)" >&2; exit 2 ;;
  esac
  echo "== $what on Fashion-MNIST rows as sequences (28 steps x 28 features, 60000 images),"
  echo "   batch 64, SGD lr 0.01 momentum 0.9, median of $EPOCHS epochs; $(nproc) cores"
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "-- with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (as set in this environment)"
    round "$kind"
    echo "-- without OPENBLAS_CORETYPE (OpenBLAS picks its kernels for this CPU)"
    ( unset OPENBLAS_CORETYPE; round "$kind" )
  else
    round "$kind"
  fi
  echo "   ${FLOPS} FLOP per training sample (matrix products, forward + backward)"
  echo
done
