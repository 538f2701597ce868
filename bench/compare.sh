#!/usr/bin/env bash
# bench/compare.sh MODEL.json RIVAL [LABEL]: one network trained by
# `traind train` with 1 and 2 threads and by PyTorch (bench/torch_rival.py
# RIVAL: the same network, batch, optimizer and data) at each of
# TORCH_SETTINGS, in one run, at each batch size of BATCHES.  Prints
# samples/s (the median epoch), GFLOP/s (traind's count of the products' FLOP
# per sample, used for both) and their share of the machine's two-core FMA
# peak (bench/fmapeak.c), peak RSS, traind's best over PyTorch's best and
# its two threads over one, the state of the issue's targets, and the round
# trip of a cache line between the two cores (bench/corelat.c) before and
# after each round; then, when PROFILE=1, traind's per-layer profile of a
# step with two threads at the first batch size (traind train --profile).
# Asserts nothing.  bench/run.sh, bench/cnn.sh and bench/rnn.sh call it.
#
#   BENCH_EPOCHS=3             epochs per measurement
#   BATCHES="64"               batch sizes, one round each
#   FMNIST_DIR=...             where the IDX files are
#   TRAIND=./traind            the program to measure
#   TORCH_SETTINGS="1/1 1/2 2/1 2/2"   PyTorch runs: torch threads / OpenBLAS threads
#   TARGET_PEAK=0.6 TARGET_SCALE=1.8   the targets: share of the two-core peak,
#                                      two threads over one (0: none)
#   PROFILE=1                  print the per-layer profile
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
BATCHES=${BATCHES:-64}
TRAIND=${TRAIND:-./traind}
TORCH_SETTINGS=${TORCH_SETTINGS:-"1/1 1/2 2/1 2/2"}
TARGET_PEAK=${TARGET_PEAK:-0.6}
TARGET_SCALE=${TARGET_SCALE:-1.8}
TRAIN=("$F/train-images-idx3-ubyte.gz" "$F/train-labels-idx1-ubyte.gz")
PY=/usr/bin/python3

# the machine's own measures, built on first use: the cores' round trip,
# printed around every round (two-thread figures depend on it on these
# machines), and the FMA peak, which GFLOP/s are compared with
tool() {   # NAME -> path of build/NAME, or nothing when it cannot be built
  local bin=build/$1
  if [ ! -x "$bin" ] || [ "bench/$1.c" -nt "$bin" ]; then
    mkdir -p build
    cc -std=c11 -O2 -pthread -o "$bin" "bench/$1.c" 2>/dev/null || { echo ""; return 0; }
  fi
  echo "$bin"
}
CORELAT=$(tool corelat)
FMAPEAK=$(tool fmapeak)
corelat() {   # WHEN
  local r
  if [ -n "$CORELAT" ] && r=$("$CORELAT" 2>/dev/null); then
    echo "  core-to-core round trip $1: $r ns"
  fi
  return 0
}
PEAK1=0
PEAK2=0
if [ -n "$FMAPEAK" ] && p=$("$FMAPEAK" 2>/dev/null); then
  read -r PEAK1 PEAK2 <<<"$p"
fi

have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then have_torch=1; fi

best_traind=0
best_torch=0
one_thread=0
two_threads=0
best_gflops=0

share() {   # GFLOPS -> "NN%" of the two-core peak, or "-"
  awk -v g="$1" -v p="$PEAK2" 'BEGIN { if (p > 0) printf "%.0f%%", 100 * g / p; else printf "-" }'
}

row() {   # LABEL RATE GFLOPS RSS_MB
  printf '  %-34s %10s %9s %7s %8s MB\n' "$1" "$2" "$3" "$(share "$3")" "$4"
}

# traind THREADS BATCH -> prints a table row; updates the bests
traind_row() {
  local out rate gflops rss
  out=$("$TRAIND" train --model "$MODEL" --train "${TRAIN[@]}" --epochs "$EPOCHS" \
        --threads "$1" --batch-size "$2" --quiet)
  rate=$(sed -n 's/^speed: median \([0-9]*\) samples.*/\1/p' <<<"$out")
  gflops=$(sed -n 's/.*; \([0-9.]*\) GFLOP\/s.*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak RSS \([0-9]*\) MB$/\1/p' <<<"$out")
  row "traind, $1 thread(s)" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_traind" ] && best_traind=$rate && best_gflops=$gflops
  [ "$1" = 1 ] && one_thread=$rate
  [ "$1" = 2 ] && two_threads=$rate
  return 0
}

# torch TORCH_THREADS BLAS_THREADS BATCH -> prints a table row; updates best_torch
torch_row() {
  local out rate rss gflops
  out=$(OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$PY" bench/torch_rival.py "$RIVAL" \
        --threads "$1" --epochs "$EPOCHS" --batch "$3" --data "$F")
  rate=$(sed -n 's/^RESULT samples_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  rss=$(sed -n 's/.*peak_rss_mb=\([0-9]*\).*/\1/p' <<<"$out")
  gflops=$(awk -v r="$rate" -v f="$FLOPS" 'BEGIN { printf "%.1f", r * f / 1e9 }')
  row "PyTorch, torch $1 / OpenBLAS $2" "$rate" "$gflops" "$rss"
  [ "$rate" -gt "$best_torch" ] && best_torch=$rate
  return 0
}

# The issue's targets for this round: traind's best at least twice
# PyTorch's best, two threads over one, and the share of the two-core peak.
targets() {   # BATCH
  awk -v k="$LABEL" -v b="$1" -v a="$best_traind" -v t="$best_torch" -v one="$one_thread" \
      -v two="$two_threads" -v g="$best_gflops" -v p="$PEAK2" -v tp="$TARGET_PEAK" \
      -v ts="$TARGET_SCALE" 'function mark(ok) { return ok ? "met" : "NOT met" }
    BEGIN {
      printf "  %s, batch %d:", k, b
      if (t > 0) printf " best traind / best PyTorch %d / %d = %.2fx (>= 2: %s);", a, t, a / t, mark(a >= 2 * t)
      if (ts > 0) printf " 2 threads / 1 = %.2fx (>= %.1f: %s);", two / one, ts, mark(two >= ts * one)
      if (tp > 0 && p > 0) printf " %.0f%% of the 2-core peak (>= %.0f%%: %s)", 100 * g / p, 100 * tp, mark(g >= tp * p)
      printf "\n"
    }'
}

round() {   # BATCH
  best_traind=0
  best_torch=0
  one_thread=0
  two_threads=0
  best_gflops=0
  echo "-- batch $1"
  corelat "before"
  printf '  %-34s %10s %9s %7s %11s\n' "" "samples/s" "GFLOP/s" "of peak" "peak RSS"
  traind_row 1 "$1"
  traind_row 2 "$1"
  if [ "$have_torch" = 1 ]; then
    local s
    for s in $TORCH_SETTINGS; do
      torch_row "${s%/*}" "${s#*/}" "$1"
    done
  else
    echo "  (python3-torch is not installed: no PyTorch figures; apt-get install python3-torch)"
  fi
  targets "$1"
  corelat "after"
}

rounds() {
  local b
  for b in $BATCHES; do
    round "$b"
  done
}

FLOPS=$("$TRAIND" train --model "$MODEL" --train "${TRAIN[@]}" --epochs 1 --quiet \
        | sed -n 's/.*(\([0-9.e+]*\) FLOP per sample).*/\1/p')
echo "   $(nproc) cores; FMA peak ${PEAK1} GFLOP/s on one core, ${PEAK2} on two (bench/fmapeak.c);"
echo "   ${FLOPS} FLOP per training sample (the products, forward + backward)"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "-- with OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (as set in this environment)"
  rounds
  echo "-- without OPENBLAS_CORETYPE (OpenBLAS picks its kernels for this CPU)"
  ( unset OPENBLAS_CORETYPE; rounds )
else
  rounds
fi
if [ "${PROFILE:-1}" = 1 ]; then
  b=${BATCHES%% *}
  echo "-- where a step's time goes: traind train --profile, 2 threads, batch $b, 1 epoch"
  corelat "before"
  "$TRAIND" train --model "$MODEL" --train "${TRAIN[@]}" --epochs 1 --threads 2 \
    --batch-size "$b" --quiet --profile | sed -n '/^profile:/,/wall clock/p' | sed 's/^/  /'
  corelat "after"
fi
