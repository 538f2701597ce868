#!/usr/bin/env bash
# A body over the upload limit, as clients send it, against a daemon at
# $TRAIND_URL started with --max-upload-mb 8: each line says what the client
# got.  Python's urllib sends the whole body before it reads (no Expect:
# 100-continue), so the daemon must read and drop it to be heard; curl asks
# with Expect: 100-continue and is answered before it sends; without it,
# curl is read like urllib.  Past twice the limit the daemon closes.
set -euo pipefail
url=$TRAIND_URL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$url" <<'PY'
import json, sys, time, urllib.error, urllib.request
url = sys.argv[1]

def post(mb):
    body = b"1,2\n" * (mb << 18)
    req = urllib.request.Request(url + "/v1/datasets", data=body, method="POST",
                                 headers={"Content-Type": "text/csv"})
    t0 = time.time()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), time.time() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.time() - t0

st, body, dt = post(9)
print(f"urllib 9 MB: {st} {json.loads(body)['error']['code']} in {dt:.2f} s")
try:
    st, body, dt = post(17)
    print(f"urllib 17 MB: answered {st}")
except (urllib.error.URLError, ConnectionError) as e:
    print(f"urllib 17 MB: closed ({e})")
PY

head -c $((9 << 20)) /dev/zero | tr '\0' '1' > "$tmp/big.csv"
for expect in with without; do
  hdr=()
  [ $expect = without ] && hdr=(-H 'Expect:')
  out=$(curl -sS -o "$tmp/body" -w '%{http_code} %{size_upload} %{time_total}' \
             -H 'Content-Type: text/csv' "${hdr[@]}" --data-binary @"$tmp/big.csv" \
             "$url/v1/datasets")
  read -r code sent secs <<<"$out"
  echo "curl 9 MB $expect Expect: $code $(jq -r .error.code "$tmp/body") ($sent bytes sent in $secs s)"
done
