#!/usr/bin/env bash
# lint-openapi.sh — lints schema/openapi.yaml with Redocly CLI (pinned below).
#
#   schema/lint-openapi.sh [FILE]       default FILE: schema/openapi.yaml
#
# Installs @redocly/cli into $TRAIND_NPM_DIR (default: build/npm) with the
# machine's npm the first time (the only run that needs the npm registry),
# then lints offline.  Exits non-zero on any problem: the rules below are
# Redocly's "recommended-strict" set (every warning is an error) plus three
# of traind's own.  Needs Node.js >= 20.19 (the images ship 20.20).
#
# The rules switched off, and why:
#   info-license            the project has chosen no licence yet;
#   operation-4xx-response  /healthz and /readyz have no 4xx answer by design;
#                           rule/v1-answers-401 gives every /v1 operation one.
set -euo pipefail

REDOCLY_VERSION=2.77.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm_dir=${TRAIND_NPM_DIR:-$root/build/npm}
file=${1:-$root/schema/openapi.yaml}
redocly=$npm_dir/node_modules/.bin/redocly

# No telemetry, no update check: after the install the lint makes no request.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "lint-openapi: node and npm are needed (Node.js >= 20.19)" >&2
    exit 2
fi

installed=$("$redocly" --version 2>/dev/null | tail -n 1 || true)
if [ "$installed" != "$REDOCLY_VERSION" ]; then
    echo "lint-openapi: installing @redocly/cli@$REDOCLY_VERSION into $npm_dir"
    mkdir -p "$npm_dir"
    [ -f "$npm_dir/package.json" ] ||
        printf '{"name": "traind-tools", "private": true}\n' > "$npm_dir/package.json"
    (cd "$npm_dir" && npm install --no-audit --no-fund --save-exact --loglevel=error \
        "@redocly/cli@$REDOCLY_VERSION")
    installed=$("$redocly" --version 2>/dev/null | tail -n 1 || true)
    if [ "$installed" != "$REDOCLY_VERSION" ]; then
        echo "lint-openapi: @redocly/cli $REDOCLY_VERSION did not install (found '$installed')" >&2
        exit 2
    fi
fi

config=$npm_dir/redocly-traind.yaml
cat > "$config" <<'EOF'
# Written by schema/lint-openapi.sh on every run; edit the script, not this.
extends:
  - recommended-strict
rules:
  info-license: off
  operation-4xx-response: off
  rule/v1-answers-401:
    subject:
      type: Responses
    where:
      - subject:
          type: PathItem
          matchParentKeys: "^/v1/"
        assertions:
          defined: true
    assertions:
      required: ["401"]
    message: "every /v1 operation answers 401 (it needs the bearer token)"
    severity: error
  rule/health-checks-are-open:
    subject:
      type: Operation
      property: security
    where:
      - subject:
          type: PathItem
          matchParentKeys: "^/(healthz|readyz)$"
        assertions:
          defined: true
    assertions:
      defined: true
      maxLength: 0
    message: "/healthz and /readyz need no token: security: []"
    severity: error
EOF

# Redocly prints a boxed "Node.js 20 support is ending" notice on every run
# under Node 20; it says nothing about the document, so it is dropped.
set +e
"$redocly" lint --config "$config" --format stylish "$file" 2>&1 |
    grep -v -e '║' -e '╔' -e '╚'
rc=${PIPESTATUS[0]}
set -e
exit "$rc"
