#!/usr/bin/env bash
# Runs the dashboard's browser test (dashboard.test.mjs) with Node's test
# runner: installs its npm packages first when they are missing (npm ci,
# pinned by package-lock.json), and checks that Debian's Chromium is there.
#
#   TRAIND_BIN=build/traind BROWSER_OUT=build/browser tests/browser/run.sh
#
# TRAIND_BIN: the daemon to test (default ./traind); BROWSER_OUT: where the
# screenshots go (default: the test's temporary directory); CHROMIUM: the
# browser (default /usr/bin/chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "browser test: node is missing (make deps)" >&2; exit 1; }
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "browser test: no Chromium at $chromium (make deps installs Debian's chromium)" >&2; exit 1; }
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
export TRAIND_BIN=$(realpath "${TRAIND_BIN:-./traind}")
[ -z "${BROWSER_OUT:-}" ] || { mkdir -p "$BROWSER_OUT"; export BROWSER_OUT=$(realpath "$BROWSER_OUT"); }
start=$(date +%s)
status=0
(cd "$here" && node --test --test-reporter=spec dashboard.test.mjs) || status=$?
printf '[browser] %s %s (%ss)%s\n' "$([ $status = 0 ] && echo PASS || echo FAIL)" tests/browser/dashboard.test.mjs \
  $(( $(date +%s) - start )) "${BROWSER_OUT:+, screenshots in $BROWSER_OUT}"
exit $status
