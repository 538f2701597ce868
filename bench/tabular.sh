#!/usr/bin/env bash
# traind against scikit-learn's MLP on tabular data (part of make bench):
# starts `traind serve` on a free loopback port with a throwaway database,
# runs bench/tabular.py against it (scikit-learn's bundled wine, breast
# cancer, iris, digits and diabetes sets and a generated table with text
# columns and missing values, each split the same way for both sides), and
# stops the daemon by its PID, also on failure or Ctrl-C.  Prints the
# figures; exits 1 when a job fails or a job's validation metric disagrees
# with its predictions.
#
#   TRAIND=./traind    the program
#   THREADS=1          compute threads of traind's jobs and of scikit-learn's
#                      OpenBLAS (the networks are tiny: one thread is the
#                      faster setting for both)
#   SEEDS=0,1,...,9    the seeds (each its own split, initialisation, shuffling)
#   DATASETS=...       a comma-separated subset (default: all six)
#   EPOCHS=200         epochs of the classification sets, both sides
#
# Needs Debian's python3-sklearn (make deps installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIND=${TRAIND:-./traind}
THREADS=${THREADS:-1}
PY=/usr/bin/python3
if ! "$PY" -c 'import sklearn' 2>/dev/null; then
  echo "== tabular data: python3-sklearn is not installed (apt-get install python3-sklearn); skipped"
  exit 0
fi

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$TRAIND" serve --host 127.0.0.1 --port 0 --db "$tmp/traind.db" --port-file "$tmp/port" \
  --threads "$THREADS" --log-level warn 2>"$tmp/daemon.log" &
pid=$!
for _ in $(seq 150); do
  [ -s "$tmp/port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/daemon.log" >&2; echo "traind exited at start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$tmp/port" ] || { echo "traind did not listen within 15 s" >&2; exit 1; }

echo "== tabular data: traind ($THREADS thread(s)) against scikit-learn $("$PY" -c 'import sklearn; print(sklearn.__version__)') (OpenBLAS threads: $THREADS), $(nproc) cores"
st=0
OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS "$PY" bench/tabular.py \
  --url "http://127.0.0.1:$(cat "$tmp/port")" ${SEEDS:+--seeds "$SEEDS"} \
  ${DATASETS:+--datasets "$DATASETS"} ${EPOCHS:+--epochs "$EPOCHS"} || st=$?
if [ "$st" -ne 0 ]; then
  echo "-- the daemon's log:" >&2
  tail -20 "$tmp/daemon.log" >&2
fi
exit "$st"
