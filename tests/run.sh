#!/usr/bin/env bash
# Runs test binaries one after the other; prints one line per binary and a
# total; exits non-zero when any of them failed.  Usage: run.sh LABEL BIN...
set -u
label=$1; shift
failed=()
start=$(date +%s)
for t in "$@"; do
  t0=$(date +%s)
  if "$t"; then
    printf '[%s] PASS %s (%ss)\n' "$label" "$t" $(( $(date +%s) - t0 ))
  else
    printf '[%s] FAIL %s\n' "$label" "$t"
    failed+=("$t")
  fi
done
printf '[%s] %d suites, %d failed, %ss\n' "$label" $# ${#failed[@]} $(( $(date +%s) - start ))
[ ${#failed[@]} -eq 0 ]
