#!/usr/bin/env bash
# The README's walk-through with curl, runnable as it stands: Fashion-MNIST
# uploaded, the example MLP created, a job started, polled, followed to its
# end, its loss curve read, its weights downloaded and two test images
# classified.  Needs a running `traind serve`, curl and jq.
#
#   TRAIND_URL    the server (default http://127.0.0.1:8080)
#   TRAIND_TOKEN  the bearer token, if the server has one
#   EPOCHS        epochs to train (default 3, to keep it short)
#   FMNIST_DIR    the IDX files (default Debian's dataset-fashion-mnist)
#   OUT           where the weights go (default fmnist-mlp.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${TRAIND_URL:-http://127.0.0.1:8080}
F=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
auth=()
if [ -n "${TRAIND_TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $TRAIND_TOKEN"); fi
c() { curl -sS --fail-with-body "${auth[@]}" "$@"; }

echo "== 1. upload the training set (IDX images and labels, as two multipart files)"
TRAIN=$(c -F x=@$F/train-images-idx3-ubyte.gz -F y=@$F/train-labels-idx1-ubyte.gz \
          "$URL/v1/datasets?name=fmnist-train" | jq .id)
c "$URL/v1/datasets/$TRAIN" | jq -c '{id, n_samples, x_shape, classes}'

echo "== 2. create the model from examples/fmnist-mlp.json"
MODEL=$(c -H 'Content-Type: application/json' --data @examples/fmnist-mlp.json \
          "$URL/v1/models?name=fmnist-mlp" | jq .id)
c "$URL/v1/models/$MODEL" | jq -c '.summary | {input, output, total_params}'

echo "== 3. start a job: the model's training settings, with fewer epochs"
JOB=$(c -H 'Content-Type: application/json' \
        -d "{\"model\": $MODEL, \"dataset\": $TRAIN, \"training\": {\"epochs\": ${EPOCHS:-3}}}" \
        "$URL/v1/jobs" | jq .id)
echo "job $JOB"

echo "== 4. poll it"
c "$URL/v1/jobs/$JOB" | jq -c '{state, queue_position, progress}'

echo "== 5. follow its events until it ends (server-sent events)"
c -N "$URL/v1/jobs/$JOB/events" | grep '^data:' | cut -c7- | jq -c '{state, epoch, loss, val_accuracy}'

echo "== 6. the job and its loss curve"
c "$URL/v1/jobs/$JOB" | jq -c '{state, stop_reason, best_metrics}'
c "$URL/v1/jobs/$JOB/metrics" | jq -c '.metrics[] | {epoch, loss, val_loss, val_accuracy}'

echo "== 7. download the weights (safetensors)"
OUT=${OUT:-fmnist-mlp.safetensors}
c -o "$OUT" "$URL/v1/jobs/$JOB/weights"
ls -l "$OUT"

echo "== 8. classify the first two test images (pixels scaled to 0..1, as in training)"
# the IDX file: a 16-byte header, then 784 bytes per image; zcat stops early
# when head has what it needs, hence the || true
pixels=$(zcat "$F/t10k-images-idx3-ubyte.gz" | head -c 1584 | tail -c 1568 | od -An -tu1 -v || true)
echo "$pixels" | tr -s ' \n' '\n' | grep . |
  jq -s '{instances: [.[0:784], .[784:1568]] | map(map(. / 255))}' |
  c -H 'Content-Type: application/json' -d @- "$URL/v1/jobs/$JOB/predict" |
  jq -c '.predictions[] | {class, probability: (.probabilities | max)}'
echo "(the test set's first two labels are 9 and 2)"
