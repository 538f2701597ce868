#!/usr/bin/env bash
# Runs the libFuzzer harnesses (docs/fuzzing.md).  Usage:
#
#   run.sh fuzz DIR NAME...     fuzzes each harness DIR/fuzz_NAME for
#                               $FUZZ_SECONDS (default 60) s, one after the
#                               other, from its seeds (tests/fuzz/corpus/NAME)
#                               and regressions; new inputs go to
#                               DIR/corpus/NAME, crashes to DIR/artifacts/NAME,
#                               the output to DIR/logs/NAME.log; prints the
#                               executions and coverage (cov, ft) of each
#   run.sh regress DIR NAME...  runs each harness once over every file of
#                               tests/fuzz/corpus/NAME and
#                               tests/fuzz/regressions/NAME (a fixed crash
#                               stays fixed)
#
# Exits non-zero when a harness crashed (or found a broken promise).
set -u
mode=$1 dir=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-60}
# The same limits in both modes, so that an input kept for exceeding one
# (a 4 GB allocation, a hang) fails the regression run the same way.
limits=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20)
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$dir/logs"
failed=()

options() {   # the libFuzzer flags of harness $1: tests/fuzz/$1.options, one a line
  [ -f "$here/$1.options" ] && grep -v '^#' "$here/$1.options"
}

inputs() {   # the committed inputs of harness $1, dotfiles and READMEs aside
  for d in "$here/corpus/$1" "$here/regressions/$1"; do
    [ -d "$d" ] && find "$d" -type f ! -name '.*' ! -name 'README*'
  done | sort
}

case $mode in
fuzz)
  summary=()
  for name in "$@"; do
    bin=$dir/fuzz_$name log=$dir/logs/$name.log
    mkdir -p "$dir/corpus/$name" "$dir/artifacts/$name"
    seeds=()
    for d in "$here/corpus/$name" "$here/regressions/$name"; do
      [ -d "$d" ] && seeds+=("$d")
    done
    dict=()
    [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
    mapfile -t opts < <(options "$name")
    echo "[fuzz] $name: ${seconds}s"
    "$bin" "${limits[@]}" "${opts[@]}" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$name/" "$dir/corpus/$name" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -a -E '^#[0-9]+' "$log" | grep -a 'cov:' | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [ $rc -ne 0 ]; then
      result="CRASH: $(grep -a -m1 -oE "(Test unit|artifact_prefix.*) written to [^ ]*" "$log" | sed 's/.* to //') (see $log)"
      failed+=("$name")
    fi
    summary+=("$(printf '%-14s %10s %8s %6s %7s %7s  %s' "$name" "${execs:-?}" "${speed:-?}" \
      "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
  done
  printf '\n%-14s %10s %8s %6s %7s %7s  %s\n' harness execs exec/s cov ft corpus result
  printf '%s\n' "${summary[@]}"
  ;;
regress)
  start=$(date +%s)
  for name in "$@"; do
    bin=$dir/fuzz_$name log=$dir/logs/$name.regress.log
    mapfile -t files < <(inputs "$name")
    mapfile -t opts < <(options "$name")
    if [ ${#files[@]} -eq 0 ]; then
      printf '[fuzz] FAIL %s: no corpus in tests/fuzz/corpus/%s\n' "$name" "$name"
      failed+=("$name")
      continue
    fi
    t0=$(date +%s)
    if "$bin" "${limits[@]}" "${opts[@]}" -runs=1 "${files[@]}" >"$log" 2>&1; then
      printf '[fuzz] PASS %s (%d inputs, %ss)\n' "$name" ${#files[@]} $(( $(date +%s) - t0 ))
    else
      printf '[fuzz] FAIL %s: see %s\n' "$name" "$log"
      grep -a -m1 -B2 -A12 -E 'ERROR|promise broken|runtime error' "$log" | sed 's/^/    /'
      failed+=("$name")
    fi
  done
  printf '[fuzz] %d harnesses, %d failed, %ss\n' $# ${#failed[@]} $(( $(date +%s) - start ))
  ;;
*)
  echo "usage: $0 fuzz|regress DIR NAME..." >&2
  exit 2
  ;;
esac
[ ${#failed[@]} -eq 0 ]
