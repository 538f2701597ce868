#!/usr/bin/env bash
# The full Fashion-MNIST accuracy run of a model definition through the
# REST API, the body of bench/cnn_api.sh and bench/rnn_api.sh:
#
#   bench/api_accuracy.sh MODEL.json MIN_ACCURACY
#
# Starts `traind serve` on a fresh database and a free loopback port,
# uploads the 60,000 training and 10,000 test images (the packaged gzipped
# IDX files), creates the model of MODEL.json, and trains it with the
# definition's training object with the test set as the job's validation
# data.  Prints every epoch as it ends, the test accuracy of the last epoch,
# the times and the daemon's peak RSS; exits 1 when the accuracy is below
# MIN_ACCURACY or the job fails.  The daemon is stopped by its PID at the
# end, also on failure or Ctrl-C.
#
# Early stopping is turned off for the job: a definition's early stopping
# monitors val_loss, and may restore the best epoch's weights, which here
# would be chosen on the test set.  The figure is the last epoch's.
#
#   TRAIND=./traind        the program
#   THREADS=N              compute threads of the job (default: the daemon's, all cores)
#   FMNIST_DIR=...         where the IDX files are
#   MAX_MINUTES=60         give up (cancel the job, exit 1) after this long
#
# Needs curl and jq (make deps installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ] || [ ! -f "$1" ]; then
  echo "usage: bench/api_accuracy.sh MODEL.json MIN_ACCURACY (paths from the repository root)" >&2
  exit 2
fi
MODEL=$1
MIN_ACCURACY=$2
NAME=$(basename "$MODEL" .json)

F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
TRAIND=${TRAIND:-./traind}
MAX_MINUTES=${MAX_MINUTES:-60}

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

args=(serve --host 127.0.0.1 --port 0 --db "$tmp/traind.db" --port-file "$tmp/port")
[ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
"$TRAIND" "${args[@]}" 2>"$tmp/daemon.log" &
pid=$!
for _ in $(seq 150); do
  [ -s "$tmp/port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/daemon.log" >&2; echo "traind exited at start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$tmp/port" ] || { echo "traind did not listen within 15 s" >&2; exit 1; }
B="http://127.0.0.1:$(cat "$tmp/port")"

# api METHOD PATH [curl args...] -> the body; fails on a status >= 400
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body -X "$method" "$@" "$B$path"
}

now() { date +%s.%N; }

# print_epochs METRICS_ANSWER -> one line per epoch row
print_epochs() {
  jq -r '.metrics[] | "  epoch \(.epoch): loss \(.loss * 10000 | round / 10000)  test loss \(.val_loss * 10000 | round / 10000)  test accuracy \(.val_accuracy)  \(.samples_per_second | round) samples/s  \(.elapsed | round) s"' <<<"$1"
}
t0=$(now)
echo "== $MODEL through the REST API ($B), $(nproc) cores"

train=$(api POST '/v1/datasets?name=fmnist-train' \
        -F "x=@$F/train-images-idx3-ubyte.gz" -F "y=@$F/train-labels-idx1-ubyte.gz" | jq .id)
test=$(api POST '/v1/datasets?name=fmnist-test' \
       -F "x=@$F/t10k-images-idx3-ubyte.gz" -F "y=@$F/t10k-labels-idx1-ubyte.gz" | jq .id)
t1=$(now)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  uploaded 60000 + 10000 images in %.1f s\n", b - a }'

model=$(api POST "/v1/models?name=$NAME" -H 'Content-Type: application/json' \
        --data "@$MODEL")
echo "$model" | jq -r '"  model \(.id): \(.summary.total_params) parameters, " +
  ([.summary.layers[] | "\(.type)\(.output_shape)"] | join(" "))'
model_id=$(echo "$model" | jq .id)

job=$(api POST /v1/jobs -H 'Content-Type: application/json' \
      -d "{\"model\": $model_id, \"dataset\": $train, \"validation\": {\"dataset\": $test},
           \"training\": {\"early_stopping\": null}}")
job_id=$(echo "$job" | jq .id)
echo "$job" | jq -r '"  job \(.id): \(.training.optimizer.type) lr \(.training.optimizer.lr), batch \(.training.batch_size), \(.training.epochs) epochs, seed \(.training.seed)"'

# follow the epochs until the job ends
since=0
deadline=$(( $(date +%s) + 60 * MAX_MINUTES ))
while :; do
  rows=$(api GET "/v1/jobs/$job_id/metrics?kind=epoch&since=$since")
  print_epochs "$rows"
  since=$(echo "$rows" | jq --argjson s "$since" '.next_since // $s')
  state=$(api GET "/v1/jobs/$job_id" | jq -r .state)
  case $state in succeeded|failed|cancelled) break ;; esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    api POST "/v1/jobs/$job_id/cancel" >/dev/null
    echo "  gave up after $MAX_MINUTES minutes" >&2
    exit 1
  fi
  sleep 2
done
t2=$(now)

final=$(api GET "/v1/jobs/$job_id")
rows=$(api GET "/v1/jobs/$job_id/metrics?kind=epoch&since=$since")
print_epochs "$rows"
state=$(echo "$final" | jq -r .state)
if [ "$state" != succeeded ]; then
  echo "  job $job_id $state: $(echo "$final" | jq -r '.error // .stop_reason')" >&2
  tail -n 20 "$tmp/daemon.log" >&2
  exit 1
fi
acc=$(echo "$final" | jq .last_metrics.val_accuracy)
echo "$final" | jq -r '"  \(.stop_reason) after \(.last_metrics.epoch) epochs; training \(.last_metrics.elapsed | round) s on \(.threads) threads"'
awk -v a="$t0" -v b="$t2" 'BEGIN { printf "  wall clock: %.0f s in all (upload, training, polling)\n", b - a }'
printf '  peak RSS of the daemon: %s MB\n' "$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status")"
if awk -v a="$acc" -v m="$MIN_ACCURACY" 'BEGIN { exit !(a >= m) }'; then
  echo "  test accuracy $acc (>= $MIN_ACCURACY)"
else
  echo "  test accuracy $acc: below $MIN_ACCURACY" >&2
  exit 1
fi
