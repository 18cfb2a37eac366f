#!/usr/bin/env bash
# Installs the documentation tools of scripts/npm/package-lock.json (Redocly
# CLI for `redocly lint`, ajv, ajv-formats and yaml for
# tests/tools/openapi_check.mjs) into scripts/npm/node_modules with `npm ci`,
# when node_modules is missing or older than package-lock.json. Quiet when
# there is nothing to do or the install works; on failure says what failed
# (with npm's output) and exits non-zero.
#
# Works with Debian 12's own Node.js 18.20 and npm 9.2: @redocly/cli stays on
# 1.34.x (2.x needs Node.js 20.19+), and package.json overrides jsep to 1.4.0
# because jsep 1.6.0 (pulled in by @redocly/respect-core) declares node >= 20.16.
set -euo pipefail
DIR=$(cd "$(dirname "$0")/npm" && pwd)
STAMP=$DIR/node_modules/.installed-from-lock

fail() { echo "scripts/npm.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (make deps installs Debian's nodejs)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (make deps installs Debian's npm)"
[ -f "$DIR/package-lock.json" ] || fail "$DIR/package-lock.json is missing"

if [ -f "$STAMP" ] && [ "$STAMP" -nt "$DIR/package-lock.json" ] && [ -x "$DIR/node_modules/.bin/redocly" ]; then
	exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! (cd "$DIR" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
	echo "scripts/npm.sh: 'npm ci --no-audit --no-fund' failed in $DIR (node $(node --version), npm $(npm --version 2>/dev/null)):" >&2
	sed 's/^/  /' "$log" >&2
	exit 1
fi
[ -x "$DIR/node_modules/.bin/redocly" ] || fail "npm ci succeeded but node_modules/.bin/redocly is missing"
touch "$STAMP"
