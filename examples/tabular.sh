#!/usr/bin/env bash
# The README's tabular walk-through with curl, runnable as it stands: a
# wine-like CSV made here (columns from 0.1 to 1000 in scale, a text column,
# some values missing) uploaded as it is, a job whose preprocessing fills
# the gaps and scales the columns, and a prediction from raw values.  Needs
# a running `traind serve`, awk, curl and jq.
#
#   TRAIND_URL    the server (default http://127.0.0.1:8080)
#   TRAIND_TOKEN  the bearer token, if the server has one
#   OUT           the CSV it writes (default wine.csv)
set -euo pipefail
URL=${TRAIND_URL:-http://127.0.0.1:8080}
OUT=${OUT:-wine.csv}
auth=()
if [ -n "${TRAIND_TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $TRAIND_TOKEN"); fi
c() { curl -sS --fail-with-body "${auth[@]}" "$@"; }

echo "== 1. a table: three cultivars, columns of very different scales, a text column, gaps"
awk 'BEGIN { srand(3); print "alcohol,hue,proline,region,cultivar"
  split("barbera barolo grignolino", k, " "); split("alba asti novara", g, " ")
  for (i = 0; i < 450; i++) { c = i % 3 + 1
    a = 12 + c * 0.6 + rand(); h = 0.7 + 0.15 * c + 0.2 * rand(); p = 400 + 250 * c + 300 * rand()
    r = rand() < 0.7 ? g[c] : g[int(rand() * 3) + 1]
    printf "%.2f,%s,%.0f,%s,%s\n", a, (i % 41 == 7 ? "NA" : sprintf("%.3f", h)), p, r, k[c] } }' > "$OUT"
head -3 "$OUT"

echo "== 2. upload it as it is (CSV told by its content; the last column is the label)"
DS=$(c -H 'Content-Type: text/csv' --data-binary @"$OUT" "$URL/v1/datasets?name=wine" | jq .id)
c "$URL/v1/datasets/$DS" | jq -c '{"label": .label, columns: [.columns[] | {name, type, missing}]}'

echo "== 3. a job: 3 numeric columns + region one-hot (3 categories) = 6 features"
JOB=$(c -H 'Content-Type: application/json' "$URL/v1/jobs" -d "{
  \"model\": {\"input\": [6], \"layers\": [{\"type\": \"dense\", \"units\": 16, \"activation\": \"relu\"},
            {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}], \"loss\": \"cross_entropy\"},
  \"dataset\": $DS, \"validation\": {\"split\": 0.2},
  \"training\": {\"epochs\": 30, \"seed\": 1, \"optimizer\": {\"type\": \"adam\", \"lr\": 0.01},
                 \"preprocess\": {\"missing\": \"median\"}}}" | jq .id)
echo "job $JOB"

echo "== 4. follow it to its end, then what it learnt from its training rows"
c -N "$URL/v1/jobs/$JOB/events" | grep '^data:' | cut -c7- | jq -c 'select(.state) | {state}'
c "$URL/v1/jobs/$JOB" | jq -c '{state, val_accuracy: .last_metrics.val_accuracy,
  preprocessing: [.preprocessing.columns[] | {name, kind, fill, center, scale, categories}]}'

echo "== 5. predict from raw values, by column name (hue left out: the median fills it)"
c -H 'Content-Type: application/json' "$URL/v1/jobs/$JOB/predict" \
  -d '{"instances": [{"alcohol": 13.9, "proline": 1050, "region": "novara"},
                     {"alcohol": 12.8, "hue": 0.9, "proline": 700, "region": "alba"}]}' |
  jq -c '.predictions[] | {class, probability: (.probabilities | max)}'
