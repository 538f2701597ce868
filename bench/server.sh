#!/usr/bin/env bash
# The server's cost, printed (part of make bench):
#  1. the MLP of bench/mlp-sgd.json on Fashion-MNIST trained as a job through
#     the server and by `traind train`, same data, threads and epochs: the
#     server's overhead is the difference in training time (the job's
#     figure includes its per-epoch metric rows and checkpoints), and the
#     daemon's peak RSS (VmHWM) after those jobs;
#  2. requests per second for GET /v1/jobs/{id} from wrk on loopback, with
#     the server idle and with a job training (wrk is Debian's; skipped when
#     absent).  Bounded: a few seconds per measurement, loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${BENCH_EPOCHS:-5}
THREADS=$(nproc)
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

start() {
  ./traind serve --host 127.0.0.1 --port 0 --port-file "$dir/port" --db "$dir/bench.db" \
    --threads "$THREADS" --log-level warn 2>"$dir/log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  URL="http://127.0.0.1:$(cat "$dir/port")"
}
job() {   # job EPOCHS -> id
  curl -sS --fail-with-body -H 'Content-Type: application/json' \
    -d "{\"model\": $MODEL, \"dataset\": $DS, \"training\": {\"epochs\": $1}}" "$URL/v1/jobs" | jq .id
}
wait_done() {   # the event stream ends with the job: no polling to steal the cores
  curl -sSN --max-time 600 "$URL/v1/jobs/$1/events" >/dev/null
}

echo "== the server's overhead: $EPOCHS epochs of bench/mlp-sgd.json, $THREADS threads"
start
DS=$(curl -sS --fail-with-body -F x=@"$F/train-images-idx3-ubyte.gz" -F y=@"$F/train-labels-idx1-ubyte.gz" \
       "$URL/v1/datasets?name=fmnist" | jq .id)
MODEL=$(curl -sS --fail-with-body -H 'Content-Type: application/json' --data @bench/mlp-sgd.json \
          "$URL/v1/models" | jq .id)
ROUNDS=${BENCH_ROUNDS:-5}
overheads=()
for round in $(seq "$ROUNDS"); do
  cli=$(./traind train --model bench/mlp-sgd.json --train "$F/train-images-idx3-ubyte.gz" \
          "$F/train-labels-idx1-ubyte.gz" --epochs "$EPOCHS" --threads "$THREADS" --quiet |
        sed -n 's/^time: \([0-9.]*\) s training.*/\1/p')
  id=$(job "$EPOCHS")
  wait_done "$id"
  srv=$(curl -sS "$URL/v1/jobs/$id" | jq .last_metrics.elapsed)
  o=$(awk -v c="$cli" -v s="$srv" 'BEGIN { printf "%.2f", 100 * (s - c) / c }')
  overheads+=("$o")
  printf '  round %d: traind train %.3f s, server job %.3f s: overhead %+.1f%%\n' "$round" "$cli" "$srv" "$o"
done
printf '  median overhead over %d rounds: %+.1f%%\n' "$ROUNDS" \
  "$(printf '%s\n' "${overheads[@]}" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')"
printf '  peak RSS (VmHWM) of the daemon after the upload and %d jobs: %s MB\n' "$ROUNDS" \
  "$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status")"

if command -v wrk >/dev/null; then
  echo "== GET /v1/jobs/{id}: wrk, 2 threads, 8 connections, 5 s, loopback"
  printf '  idle:           '
  wrk -t2 -c8 -d5s "$URL/v1/jobs/$id" | sed -n 's/^Requests\/sec: *//p'
  long=$(job 200)
  for _ in $(seq 100); do [ "$(curl -sS "$URL/v1/jobs/$long" | jq -r .state)" = running ] && break; sleep 0.05; done
  printf '  while training: '
  wrk -t2 -c8 -d5s "$URL/v1/jobs/$long" | sed -n 's/^Requests\/sec: *//p'
  curl -sS -X POST "$URL/v1/jobs/$long/cancel" >/dev/null
else
  echo "(wrk is not installed: apt-get install wrk)"
fi
