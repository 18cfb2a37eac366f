#!/usr/bin/env bash
# `make run`: the local stack, migrated, then serve in the foreground.
# Ctrl-C (or `make stop` from another terminal) stops serve and the stack.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: run.sh path/to/sms-orchestrator}
cleanup() { "$ROOT/scripts/stack.sh" stop run; }
trap cleanup EXIT
trap 'true' INT TERM # serve gets the signal too; we go on to cleanup when it exits
"$ROOT/scripts/stack.sh" start run "$BIN"
# shellcheck disable=SC1091
. "$ROOT/.run/run/env"
echo "serving on http://$ORCH_HTTP_LISTEN (Ctrl-C stops everything)" >&2
# exec keeps the PID written to the pidfile, so `make stop` can reach serve.
bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$ROOT/.run/run/serve.pid" "$BIN" serve || true
