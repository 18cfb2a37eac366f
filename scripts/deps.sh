#!/bin/sh
# Installs the Debian packages the build, the local stack and the tests need,
# when any is missing. Quick (one dpkg-query) when everything is there.
# deps.sh --check only says, in one line, what is missing (exit 1), for `make`.
set -eu
# libssl-dev: libcrypto for SHA-256 (libgrpc-dev pulls it in too; named here
# because the build uses it directly). clang and libclang-rt-14-dev (the
# libFuzzer runtime): the fuzz targets of tests/fuzz/ (make fuzz). prometheus:
# only for its promtool (the checks and unit tests of deploy/prometheus/rules.yml);
# where systemd runs, the package also starts a Prometheus server on :9090, which
# nothing here uses.
PKGS="build-essential pkg-config ca-certificates curl jq
libpq-dev postgresql-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
libmicrohttpd-dev libjson-c-dev libhiredis-dev redis-server libnats-dev nats-server
libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libcmocka-dev wrk
docker-compose clang libclang-rt-14-dev prometheus"

missing=""
# The docs tier lints the OpenAPI document with tools from the npm registry:
# Node.js and npm from Debian unless the machine already has an npm.
command -v npm >/dev/null 2>&1 || missing="nodejs npm"
for p in $PKGS; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done
if [ "${1:-}" = --check ]; then # the build-only `make`: say what is missing in one line, install nothing
	[ -z "$missing" ] && exit 0
	echo "missing packages:$missing; run 'make deps' (as root) first, or 'make run' / 'make test', which install them"
	exit 1
fi
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: these Debian packages are missing and installing them needs root:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The postgresql package would start a system cluster on 5432; the local stack runs its own.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
