#!/usr/bin/env bash
# The deployment artifacts (issue 7): compose.yaml, deploy/kong/kong.yml, the
# Dockerfile. Static checks: no Docker engine and no running server needed.
# compose.yaml is resolved by docker-compose itself (`config`), YAML is read
# with python3's yaml module, and the image's runtime packages are compared
# with what the built binaries actually load (ldd + dpkg -S).
. "$(dirname "$0")/lib.sh"

COMPOSE=$ORCH_ROOT/compose.yaml
KONG_YML=$ORCH_ROOT/deploy/kong/kong.yml
DOCKERFILE=$ORCH_ROOT/Dockerfile
STANDIN=$(dirname "$ORCH_BIN")/routing-engine-standin

# A python3 that has the yaml module (Debian's comes with docker-compose).
PY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done
ok "python3 with the yaml module is available" test -n "$PY"
yaml2json() { "$PY" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'; }

# docker-compose with the settings this test does not want from the caller's environment.
dc() { env -u POSTGRES_PASSWORD -u ORCH_SERVICE_PASSWORD -u ORCH_IMAGE_TAG docker-compose -f "$COMPOSE" "$@"; }

# --- (a) compose.yaml is valid ---------------------------------------------
out=$(dc config -q 2>&1); rc=$?
is "$rc" 0 "docker-compose config -q accepts compose.yaml"
[ "$rc" -eq 0 ] || diag "${out:0:600}"

# --- (b) the resolved compose configuration ----------------------------------
C=$(dc config 2>/dev/null | yaml2json 2>/dev/null)
[ -n "$C" ] || C='{}'
# Volumes and ports in either syntax (docker-compose 1.29 prints the short one).
JQDEFS='def vols: (.volumes // [])[] | if type == "string" then (split(":") | {source: .[0], target: .[1]}) else . end;
def ports: (.ports // [])[] | if type == "string" then (sub("/tcp$"; "") | split(":")
	| if length == 3 then {host_ip: .[0], published: .[1], target: .[2]} else {published: .[0], target: .[1]} end) else . end;'
cq() { local f=${*: -1}; jq -r "${@:1:$#-1}" "$JQDEFS $f" <<<"$C"; }

is "$(cq '.services // {} | keys | sort | join(" ")')" "kong migrate nats postgres reconcile redis routing-engine serve" \
	"compose has exactly the services postgres, redis, nats, routing-engine, migrate, serve, reconcile, kong"
like "$(cq '.services.postgres.image')" '^postgres:15(\.|$|-)' "PostgreSQL is postgres:15"
like "$(cq '.services.redis.image')" '^redis:7(\.|$|-)' "Redis is redis:7"
like "$(cq '.services.nats.image')" '^nats:2\.10\.[0-9]+-alpine$' \
	"NATS is pinned to a 2.10 patch release on alpine (sync_interval needs 2.10.0+; the health check needs wget)"
like "$(cq '.services.kong.image')" '^kong:3(\.|$)' "Kong is kong:3.x"
ours=$(cq '.services.serve.image')
is "$(cq --arg i "$ours" '[.services[] | select(.image == $i)] | length')" 4 \
	"routing-engine, migrate, serve and reconcile run the image built from this repository ($ours)"
is "$(cq --arg i "$ours" '[.services[] | select(.image == $i and (.build.context // "") == "")] | length')" 0 \
	"every service on that image can build it (no pull of a local name)"

# Long-running: everything but the one-shot migrate (restart "no").
is "$(cq '.services.migrate.restart')" "no" "migrate is a one-shot (restart: no)"
missing=$(cq '[.services | to_entries[] | select(.key != "migrate")
	| select((.value.healthcheck.test // ["NONE"])[0] == "NONE" or (.value.healthcheck.disable // false)) | .key] | join(" ")')
is "$missing" "" "every long-running service has a health check"
like "$(cq '.services.postgres.healthcheck.test | join(" ")')" 'pg_isready' "postgres: pg_isready"
like "$(cq '.services.redis.healthcheck.test | join(" ")')" 'redis-cli ping' "redis: redis-cli ping"
like "$(cq '.services.nats.healthcheck.test | join(" ")')" '8222/healthz\?js-enabled-only=true' "nats: the monitor's /healthz?js-enabled-only=true"
like "$(cq '.services.kong.healthcheck.test | join(" ")')" 'kong health' "kong: kong health"
like "$(cq '.services.serve.healthcheck.test | join(" ")')" 'curl .*/readyz' "serve: curl /readyz"
# NATS runs from deploy/nats/nats-server.conf, mounted read-only where --config points.
nats_conf=$(cq '.services.nats.command as $c | ($c | index("--config") // ($c | index("-c"))) as $i | if $i then $c[$i + 1] else "" end')
is "$(cq --arg t "$nats_conf" '[.services.nats | vols | select(.target == $t) | .source | sub(".*/deploy/"; "deploy/")] | join(" ")')" \
	deploy/nats/nats-server.conf "nats: --config $nats_conf is deploy/nats/nats-server.conf, mounted"
NATS_CONF=$ORCH_ROOT/deploy/nats/nats-server.conf
# The file's jetstream block (our own simple format: one setting a line).
js_setting() { awk -v k="$1" '/^jetstream *\{/ { js = 1; next } js && /^\}/ { js = 0 } js { sub(/#.*/, ""); if ($1 == k ":") { v = $2; gsub(/"/, "", v); print v } }' "$NATS_CONF"; }
ok "nats-server.conf has a jetstream block (JetStream on)" grep -qE '^jetstream *\{' "$NATS_CONF"
is "$(js_setting sync_interval)" always "nats-server.conf: sync_interval always (fsync before every acknowledgement)"
is "$(awk '$1 == "http_port:" { print $2 }' "$NATS_CONF")" 8222 "nats-server.conf: the monitor on 8222 (the health check's port)"
nats_sd=$(js_setting store_dir)
# Debian's nats-server 2.9.10 (the local stack's) parses the file and lacks only sync_interval (2.10.0+).
out=$(nats-server -c "$NATS_CONF" -t 2>&1)
like "$out" 'unknown field "sync_interval"' "nats-server 2.9 parses the file and names sync_interval as a setting it lacks"
sed '/sync_interval/d' "$NATS_CONF" >"$T_TMP/nats.conf"
like "$(nats-server -c "$T_TMP/nats.conf" -t 2>&1)" 'is valid' "... and accepts every other line of it"
is "$(cq --arg d "$nats_sd" '[.services.nats | vols | select(.type == "volume" or (.source // "" | startswith("/") | not))
	| select(.target == $d)] | length')" 1 "the JetStream store directory ($nats_sd) is a volume"

dep() { cq --arg s "$1" --arg d "$2" '.services[$s].depends_on[$d].condition // "none"'; }
is "$(dep serve migrate)" service_completed_successfully "serve waits for migrate to complete successfully"
is "$(dep serve postgres)" service_healthy "serve waits for postgres to be healthy"
is "$(dep serve nats)" service_healthy "serve waits for nats to be healthy"
is "$(dep serve redis):$(dep serve routing-engine)" service_healthy:service_healthy "serve waits for redis and the routing engine"
is "$(dep migrate postgres)" service_healthy "migrate waits for postgres to be healthy"
is "$(dep reconcile migrate)" service_completed_successfully "reconcile waits for migrate"
is "$(dep kong serve)" service_healthy "kong waits for serve to be healthy"

# Database logins: migrate as the superuser, serve and reconcile as a member of orch_app.
dburl_user() { cq --arg s "$1" '.services[$s].environment.ORCH_DATABASE_URL // ""' | sed -nE 's|^postgres(ql)?://([^:@/]+).*|\2|p'; }
dburl_pass() { cq --arg s "$1" '.services[$s].environment.ORCH_DATABASE_URL // ""' | sed -nE 's|^postgres(ql)?://[^:@/]+:([^@]*)@.*|\2|p'; }
is "$(dburl_user migrate)" "$(cq '.services.postgres.environment.POSTGRES_USER // "postgres"')" "migrate logs in as the PostgreSQL superuser"
is "$(dburl_pass migrate)" "$(cq '.services.postgres.environment.POSTGRES_PASSWORD')" "with the superuser's password"
is "$(dburl_user serve):$(dburl_user reconcile)" "orch_service:orch_service" "serve and reconcile log in as orch_service"
is "$(dburl_pass serve)" "$(cq '.services.postgres.environment.ORCH_SERVICE_PASSWORD // "unset"')" \
	"serve's password is the ORCH_SERVICE_PASSWORD the postgres init script uses"
initdir=$(cq '.services.postgres | vols | select(.target == "/docker-entrypoint-initdb.d") | .source')
initsql=$(cat "$initdir"/* 2>/dev/null)
like "$initsql" "CREATE ROLE orch_service LOGIN" "an init script in /docker-entrypoint-initdb.d creates the login role orch_service"
like "$initsql" "GRANT orch_app TO orch_service" "and makes it a member of orch_app (nothing more)"
unlike "$initsql" "(^|[^A-Z])(SUPERUSER|CREATEROLE|CREATEDB|BYPASSRLS)" "without superuser-like privileges"
# reconcile needs nothing beyond orch_app: every function it calls is granted to orch_app.
roles=$(cat "$ORCH_ROOT/sql/090_roles.sql")
for f in 'orch.reconcile(boolean, interval, interval, integer, bigint)' 'orch.outbox_purge(interval, integer)' 'orch.idempotency_purge(integer)'; do
	like "$roles" "$(printf '%s' "$f" | sed 's/[().]/\\&/g')" "orch_app may execute $f (reconcile's calls)"
done

is "$(cq '[.services | to_entries[] | select((.value.ports // []) | length > 0) | .key] | join(" ")')" kong \
	"only kong publishes a port"
is "$(cq '[.services.kong | ports | "\(.host_ip // "0.0.0.0"):\(.published):\(.target)"] | join(" ")')" "127.0.0.1:8000:8000" \
	"kong's proxy port 8000 is published on 127.0.0.1 only"
is "$(cq '.services.kong.environment.KONG_DATABASE')" off "kong runs DB-less"
kong_decl=$(cq '.services.kong.environment.KONG_DECLARATIVE_CONFIG // ""')
is "$(cq --arg t "$kong_decl" '.services.kong | vols | select(.target == $t) | .source')" "$KONG_YML" \
	"KONG_DECLARATIVE_CONFIG is deploy/kong/kong.yml, mounted"
like "$(cq '.services.reconcile.command | join(" ")')" 'while .*sms-orchestrator reconcile.*sleep' "reconcile runs in a loop with a sleep"

# --- (c) deploy/kong/kong.yml ------------------------------------------------
K=$(yaml2json <"$KONG_YML" 2>/dev/null)
ok "deploy/kong/kong.yml parses as YAML" test -n "$K"
[ -n "$K" ] || K='{}'
kq() { jq -r "$@" <<<"$K"; }
PLUGINS='[(.plugins // [])[], ((.services // [])[] | (.plugins // [])[]), ((.services // [])[] | (.routes // [])[] | (.plugins // [])[]), ((.routes // [])[] | (.plugins // [])[])]'
plugin() { kq "$PLUGINS | map(select(.name == \"$1\"))[0].config // {} | $2"; }

is "$(kq '._format_version')" "3.0" "_format_version is 3.0"
route='[(.services // [])[] | (.routes // [])[]] | map(select((.paths // []) | index("/v1/sms")))[0] // {}'
is "$(kq "$route | .paths | join(\",\")" 2>/dev/null)" /v1/sms "a route for /v1/sms"
is "$(kq "$route | .strip_path")" false "that does not strip the path"
is "$(kq "$route | .methods // [] | sort | join(\",\")")" GET,POST "for GET and POST"
is "$(kq "$PLUGINS | map(select(.name == \"key-auth\")) | length")" 1 "key-auth is enabled"
is "$(plugin key-auth '(.key_names // []) | index("apikey") != null')" true "key-auth reads the key from apikey"
is "$(plugin key-auth '.hide_credentials')" true "and hides it from the service"
is "$(kq '(.consumers // []) | length')" 2 "two example consumers"
is "$(kq '[(.consumers // [])[] | select((.custom_id // "") != "" and ((.keyauth_credentials // []) | map(select((.key // "") != "")) | length) >= 1)] | length')" 2 \
	"each with a custom_id (the account) and a key-auth credential"
is "$(kq '[(.consumers // [])[].custom_id] | unique | length'):$(kq '[(.consumers // [])[].keyauth_credentials[]?.key] | unique | length')" 2:2 \
	"distinct accounts and distinct keys"
token=$(cq '.services.serve.environment.ORCH_UPSTREAM_TOKEN // ""')
ok "serve has an ORCH_UPSTREAM_TOKEN" test -n "$token"
added=$(plugin request-transformer '(.add.headers // [])[] | select(ascii_downcase | startswith("x-gateway-token:"))' | head -1)
is "${added#*:}" "$token" "request-transformer adds X-Gateway-Token with serve's ORCH_UPSTREAM_TOKEN"
is "$(plugin request-transformer '(.remove.headers // []) | map(ascii_downcase) | index("x-gateway-token") != null')" true \
	"and removes a client-sent X-Gateway-Token first (add alone keeps the client's)"
is "$(plugin correlation-id '.header_name | ascii_downcase')" x-request-id "correlation-id sets X-Request-ID"
like "$(plugin correlation-id '.generator // "uuid#counter"')" '^(uuid|uuid#counter|tracker)$' "with a generator Kong knows"
is "$(plugin correlation-id '.echo_downstream')" true "and echoes it to the client"
is "$(kq "$PLUGINS | map(select(.name == \"rate-limiting\")) | length")" 1 "rate-limiting is enabled"
is "$(plugin rate-limiting '(.limit_by // "consumer") + "/" + (.policy // "")')" consumer/local "per consumer, local policy"
like "$(plugin rate-limiting '[.second, .minute, .hour, .day] | map(select(. != null and . > 0)) | length')" '^[1-9]' "with a limit"

up_name=$(kq '(.services // [])[0].host // ""')
up='(.upstreams // []) | map(select(.name == $u))[0] // {}'
is "$(kq --arg u "$up_name" "$up | .name // \"none\"")" "$up_name" "the service's host is an upstream ($up_name)"
is "$(kq --arg u "$up_name" "$up | .healthchecks.active.http_path // \"\"")" /readyz "with active health checks on /readyz"
is "$(kq --arg u "$up_name" "$up | .healthchecks.active | [.healthy.interval, .healthy.successes, .unhealthy.interval, .unhealthy.http_failures] | map(select(. != null and . > 0)) | length")" 4 \
	"healthy and unhealthy intervals and thresholds set (0 would turn the checks off)"
listen=$(cq '.services.serve.environment.ORCH_HTTP_LISTEN // ""')
is "$(kq --arg u "$up_name" "$up | [.targets[]?.target] | join(\" \")")" "serve:${listen##*:}" \
	"the upstream target is serve's service name and ORCH_HTTP_LISTEN port"
like "$listen" '^0\.0\.0\.0:[0-9]+$' "serve listens on all interfaces inside the network"

# --- (d) the Dockerfile ------------------------------------------------------
# Without comments, continuation lines joined; the runtime stage is the last FROM.
DF=$(grep -vE '^[[:space:]]*#' "$DOCKERFILE" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta')
runtime=$(awk '/^FROM[[:space:]]/{s = ""} {s = s $0 "\n"} END {printf "%s", s}' <<<"$DF")
builder=$(awk '/^FROM[[:space:]]/{n++} n == 1' <<<"$DF")
like "$(head -1 <<<"$runtime")" '^FROM debian:12-slim' "the runtime stage is debian:12-slim"
like "$(head -1 <<<"$builder")" '^FROM debian:12-slim' "the build stage is debian:12-slim (same package names as this Debian 12 host)"
is "$(grep -c '^FROM' <<<"$DF")" 2 "two stages"
# Package names of every `apt-get install` in a stage.
apt_pkgs() {
	grep -E '^RUN ' | sed -E 's/(&&|;|\|\|)/\n/g' | grep -E 'apt(-get)? +install' \
		| sed -E 's/.*apt(-get)? +install//' | tr -s '[:blank:]' '\n' | grep -vE '^(-|$)' | sort -u
}
rpkgs=$(apt_pkgs <<<"$runtime")
bpkgs=$(apt_pkgs <<<"$builder")
diag "runtime packages: $(tr '\n' ' ' <<<"$rpkgs")"
like "$bpkgs" 'build-essential' "the build stage installs the toolchain"
like "$(grep -E '^RUN .*make' <<<"$builder")" 'build/release/sms-orchestrator' "the build stage makes build/release/sms-orchestrator"
like "$(grep -E '^RUN .*make' <<<"$builder")" 'build/release/routing-engine-standin' "and build/release/routing-engine-standin"
# The image builds the release binaries, whatever SANITIZE this suite runs under (make test SANITIZE=1
# passes it down in MAKEFLAGS, and under it build/release has no rules).
ok "those are targets of the Makefile" make -C "$ORCH_ROOT" -n SANITIZE=0 build/release/sms-orchestrator build/release/routing-engine-standin
missing=
for src in $(grep -E '^COPY ' <<<"$builder" | grep -v -- '--from' | sed -E 's/^COPY +//' | awk '{$NF = ""; print}'); do
	[ -e "$ORCH_ROOT/$src" ] || missing="$missing $src"
done
is "$missing" "" "every path the build stage copies exists"

# What the binaries load: the package of each library (ldd, then one dpkg -S for
# all of them, under the path ldd gives and its real path: /lib is /usr/lib here).
ok "the stand-in routing engine is built next to the service ($STANDIN)" test -x "$STANDIN"
# The image builds the release binaries: look at those when they exist (under
# SANITIZE=1 the binaries under test link the sanitizer runtimes and more).
BINS=("$ORCH_BIN" "$STANDIN")
REL=$ORCH_ROOT/build/release
[ -x "$REL/sms-orchestrator" ] && [ -x "$REL/routing-engine-standin" ] && BINS=("$REL/sms-orchestrator" "$REL/routing-engine-standin")
release=0
[ "$(basename "$(dirname "${BINS[0]}")")" = release ] && release=1
diag "libraries of: ${BINS[*]}"
ldd_all='' ldd_needed=''
for bin in "${BINS[@]}"; do
	[ -x "$bin" ] || continue
	ldd_out=$(ldd "$bin")
	ldd_all="$ldd_all $(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$ldd_out")"
	for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
		ldd_needed="$ldd_needed $(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' <<<"$ldd_out")"
	done
done
owners=$(for f in $ldd_all; do echo "$f"; readlink -f "$f"; done | sort -u | xargs -r dpkg -S 2>/dev/null)
lib_pkgs() { # paths... -> their packages, one a line ("UNKNOWN(path)" when none)
	local f r p
	for f in "$@"; do
		r=$(readlink -f "$f")
		p=$(awk -F': ' -v a="$f" -v b="$r" '$2 == a || $2 == b {split($1, x, ", "); sub(/:.*/, "", x[1]); print x[1]; exit}' <<<"$owners")
		echo "${p:-UNKNOWN($f)}"
	done | sort -u
}
# The image builds the release binaries: a SANITIZE=1 build's sanitizer runtimes are not its business.
no_san() { grep -vE '^lib(a|ub|l|t|hwa)san[0-9]+$'; }
needed_pkgs=$(lib_pkgs $ldd_needed | no_san)
all_pkgs=$(lib_pkgs $ldd_all | no_san)
diag "packages of the libraries the binaries link: $(tr '\n' ' ' <<<"$needed_pkgs")"
unlike "$all_pkgs" 'UNKNOWN' "every library the binaries load belongs to a Debian package"
is "$(grep -cE '^(libpq[0-9]+|libnats[0-9.]+|libgrpc[0-9]+)$' <<<"$needed_pkgs")" 3 "(ldd worked: libpq, libnats and libgrpc are among them)"
# closure SEEDS...: the packages installed with the seeds (Depends and Pre-Depends,
# every alternative) and with the base image (Essential or Priority required).
DPKG_DB=$(dpkg-query -W -f='${Package}\t${Priority}\t${Essential}\t${Depends}, ${Pre-Depends}\n' 2>/dev/null)
closure() {
	awk -F'\t' -v seeds="$*" '
		function add(p) { if (p != "" && !(p in seen)) { seen[p] = 1; q[++qn] = p } }
		{ deps[$1] = deps[$1] "," $4; if ($3 == "yes" || $2 == "required") base[$1] = 1 }
		END {
			n = split(seeds, s, " "); for (i = 1; i <= n; i++) add(s[i])
			for (p in base) add(p)
			for (qi = 1; qi <= qn; qi++) {
				m = split(deps[q[qi]], d, /[,|]/)
				for (j = 1; j <= m; j++) { x = d[j]; sub(/\(.*\)/, "", x); sub(/:any/, "", x); gsub(/^ +| +$/, "", x); add(x) }
			}
			for (p in seen) print p
		}' <<<"$DPKG_DB" | sort -u
}
base=$(closure)
covered=$(closure $rpkgs)
# Release binaries: each directly linked library's package is listed by name
# (or in the base image). Other builds link more directly: installed is enough.
explicit=$rpkgs$'\n'$base
[ "$release" = 1 ] || explicit=$covered
not_listed=
for p in $needed_pkgs; do grep -qxF "$p" <<<"$explicit" || not_listed="$not_listed $p"; done
is "${not_listed# }" "" "the runtime stage installs the package of every library the binaries link directly"
uncovered=
for p in $all_pkgs; do grep -qxF "$p" <<<"$covered" || uncovered="$uncovered $p"; done
is "${uncovered# }" "" "every library loaded indirectly comes with a listed package or the base image"
like "$rpkgs" $'(^|\n)curl(\n|$)' "the runtime stage installs curl (health check)"
like "$rpkgs" $'(^|\n)ca-certificates(\n|$)' "and ca-certificates"
compilers=$(grep -E '^(build-essential|gcc.*|g\+\+.*|cpp(-.*)?|clang.*|make|cmake|pkg-?config|pkgconf|.*-dev|protobuf-c-compiler|protobuf-compiler)$' <<<"$rpkgs" | tr '\n' ' ')
is "$compilers" "" "no compiler, build tool or -dev package in the runtime stage"
user=$(grep -E '^USER ' <<<"$runtime" | tail -1 | awk '{print $2}')
ok "the runtime stage sets a USER" test -n "$user"
unlike "${user%%:*}" '^(root|0)$' "that is not root ($user)"
like "$(grep -E '^COPY --from' <<<"$runtime")" 'sms-orchestrator' "the runtime stage copies sms-orchestrator"
like "$(grep -E '^COPY --from' <<<"$runtime")" 'routing-engine-standin' "and the stand-in"
like "$(grep -E '^COPY --from' <<<"$runtime")" 'data/routes\.txt' "and the stand-in's data/routes.txt"
routes_in_image=$(grep -E '^COPY --from.*data/routes\.txt' <<<"$runtime" | awk '{print $NF}')
like "$(cq '.services["routing-engine"].command | join(" ")')" "--routes ${routes_in_image//./\\.}( |$)" \
	"the routing-engine service reads the routes file where the image has it"
like "$(grep -E '^ENTRYPOINT' <<<"$runtime")" '\["sms-orchestrator"\]' 'ENTRYPOINT ["sms-orchestrator"]'
like "$(grep -E '^CMD' <<<"$runtime")" '\["serve"\]' 'CMD ["serve"]'
like "$(grep -E '^EXPOSE' <<<"$runtime")" '(^| )8080( |$)' "EXPOSE 8080"
like "$(grep -E '^HEALTHCHECK' <<<"$runtime")" 'curl.*/readyz' "a HEALTHCHECK on /readyz"
ign=$(cat "$ORCH_ROOT/.dockerignore" 2>/dev/null)
for x in .git .run build node_modules; do
	like "$ign" $'(^|\n)/?'"${x//./\\.}"$'/?(\n|$)' ".dockerignore excludes $x"
done

# --- (e) the settings given to our binaries ------------------------------------
known=$("$ORCH_BIN" serve --help 2>/dev/null | awk '$1 ~ /^ORCH_[A-Z0-9_]+$/ {print $1}' | sort -u)
ok "serve --help lists the settings" test -n "$known"
for svc in serve reconcile migrate; do
	names=$(cq --arg s "$svc" '.services[$s].environment // {} | keys[]')
	unknown=
	for n in $names; do grep -qxF "$n" <<<"$known" || unknown="$unknown $n"; done
	is "${unknown# }" "" "every variable given to $svc is a setting serve --help lists"
	# The values parse: the configuration is loaded (and a bad value exits 2) before --help.
	mapfile -t assigns < <(cq --arg s "$svc" '.services[$s].environment // {} | to_entries[] | "\(.key)=\(.value)"')
	out=$(env -i PATH="$PATH" "${assigns[@]}" "$ORCH_BIN" serve --help 2>&1 >/dev/null); rc=$?
	is "$rc" 0 "and every value given to $svc parses"
	[ "$rc" -eq 0 ] || diag "$(grep 'configuration error' <<<"$out" | head -3)"
done
is "$(cq '.services.serve.command | join(" ")')" serve "the serve service runs serve"
is "$(cq '.services.migrate.command | join(" ")')" migrate "the migrate service runs migrate"
usage=$("$STANDIN" --help 2>&1)
unknown=
for f in $(cq '.services["routing-engine"].command[] | select(startswith("--"))'); do
	grep -qF -- "$f " <<<"$usage " || unknown="$unknown $f"
done
is "${unknown# }" "" "the routing-engine service passes only flags the stand-in knows"
is "$(cq '.services["routing-engine"].entrypoint | join(" ")')" routing-engine-standin "the routing-engine service runs the stand-in"
is "$(cq '.services.serve.environment.ORCH_ROUTING_ADDR // ""')" "routing-engine:$(cq '.services["routing-engine"].command as $c | $c[($c | index("--listen")) + 1]' | sed 's/.*://')" \
	"serve's ORCH_ROUTING_ADDR is the routing-engine service and its --listen port"

done_testing
