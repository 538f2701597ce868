#!/usr/bin/env bash
# bench/compare.sh MODEL.json RIVAL [LABEL]: one network trained by
# `traind train` with 1 and 2 threads and by PyTorch (bench/torch_rival.py
# RIVAL: the same network, batch, optimizer and data) at each of
# TORCH_SETTINGS, in one run.  Prints samples/s (the median epoch), GFLOP/s
# (traind's count of the products' FLOP per sample, used for both), peak RSS,
# and traind's best over PyTorch's best, and the round trip of a cache line
# between the two cores before and after each round (bench/corelat.c).
# Asserts nothing.  bench/run.sh, bench/cnn.sh and bench/rnn.sh call it.
#
#   BENCH_EPOCHS=3             epochs per measurement
#   FMNIST_DIR=...             where the IDX files are
#   TRAIND=./traind            the program to measure
#   TORCH_SETTINGS="1/1 2/1 2/2"   PyTorch runs: torch threads / OpenBLAS threads
#
# When OPENBLAS_CORETYPE is set in the environment, every measurement is
# made twice: with it (as the machine is configured) and without it
# (OpenBLAS's own choice for the CPU), for both programs alike.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=$1
RIVAL=$2
LABEL=${3:-$RIVAL}
F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${BENCH_EPOCHS:-3}
TRAIND=${TRAIND:-./traind}
TORCH_SETTINGS=${TORCH_SETTINGS:-"1/1 2/1 2/2"}
TRAIN=("$F/train-images-idx3-ubyte.gz" "$F/train-labels-idx1-ubyte.gz")
PY=/usr/bin/python3

# the cores' round trip (bench/corelat.c), printed around every round: the
# two-thread figures depend on it on these machines
CORELAT=build/corelat
if [ ! -x "$CORELAT" ] || [ bench/corelat.c -nt "$CORELAT" ]; then
  mkdir -p build
  cc -std=c11 -O2 -pthread -o "$CORELAT" bench/corelat.c 2>/dev/null || CORELAT=
fi
corelat() {   # WHEN
  local r
  if [ -n "$CORELAT" ] && r=$("$CORELAT" 2>/dev/null); then
    echo "  core-to-core round trip $1: $r ns"
  fi
  return 0
}

have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi

best_traind=0
best_torch=0

row() {   # LABEL RATE GFLOPS RSS_MB
  printf '  %-34s %10s %9s %8s MB\n' "$1" "$2" "$3" "$4"
}

# traind THREADS -> prints a table row; updates best_traind
traind_row() {
  local out rate gflops rss
  out=$("$TRAIND" train --model "$MODEL" --train "${TRAIN[@]}" --epochs "$EPOCHS" \
        --threads "$1" --quiet)
  rate=$(sed -n 's/^speed: median \([0-9]*\) samples.*/\1/p' <<<"$out")
  gflops=$(sed -n 's/.*; \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak RSS \([0-9]*\) MB$/\1/p' <<<"$out")
  row "traind, $1 thread(s)" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_traind" ] && best_traind=$rate
  return 0
}

# torch TORCH_THREADS BLAS_THREADS -> prints a table row; updates best_torch
torch_row() {
  local out rate rss gflops
  out=$(OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$PY" bench/torch_rival.py "$RIVAL" \
        --threads "$1" --epochs "$EPOCHS" --data "$F")
  rate=$(sed -n 's/^RESULT samples_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak_rss_mb=\([0-9]*\).*/\1/p' <<<"$out")
  gflops=$(awk -v r="$rate" -v f="$FLOPS" 'BEGIN { printf "%.1f", r * f / 1e9 }')
  row "PyTorch, torch $1 / OpenBLAS $2" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_torch" ] && best_torch=$rate
  return 0
}

round() {
  best_traind=0
  best_torch=0
  corelat "before"
  printf '  %-34s %10s %9s %11s\n' "" "samples/s" "GFLOP/s" "peak RSS"
  traind_row 1
  traind_row 2
  if [ "$have_torch" = 1 ]; then
    local s
    for s in $TORCH_SETTINGS; do
      torch_row "${s%/*}" "${s#*/}"
    done
    awk -v k="$LABEL" -v a="$best_traind" -v b="$best_torch" \
      'BEGIN { printf "  %s: best traind / best PyTorch: %d / %d = %.2fx\n", k, a, b, a / b }'
  else
    echo "  (python3-torch is not installed: no PyTorch figures; apt-get install python3-torch)"
  fi
  corelat "after"
}

FLOPS=$("$TRAIND" train --model "$MODEL" --train "${TRAIN[@]}" --epochs 1 --quiet \
        | sed -n 's/.*(\([0-9.e+]*\) FLOP per sample).*/\1/p')
echo "   $(nproc) cores; ${FLOPS} FLOP per training sample (the products, forward + backward)"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "-- with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (as set in this environment)"
  round
  echo "-- without OPENBLAS_CORETYPE (OpenBLAS picks its kernels for this CPU)"
  ( unset OPENBLAS_CORETYPE; round )
else
  round
fi
