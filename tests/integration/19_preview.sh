#!/usr/bin/env bash
# POST /v1/sms/preview and smartEncoding (api.md): preview agrees with send on
# the whole segment test corpus (tests/unit/segment_corpus.h, written out by
# tests/tools/segcorpus) and on smart-encoded bodies, with and without
# smartEncoding; the same 400s as send; nothing stored, published or claimed
# in Redis; the Idempotency-Key ignored; the Kong trust rules apply; it
# answers with PostgreSQL and NATS down. smartEncoding on send and bulk: the
# stored body is the replaced one, replacedCharacters in the answers, and the
# Idempotency-Key fingerprint takes it.
. "$(dirname "$0")/lib.sh"
A=acct-preview-$$
# The accept path alone: messages stay QUEUED, so their rows can be compared with the previews.
start_serve ORCH_ROLES=http,relay || exit 1

preview() { local a=$1 b=$2; shift 2; req POST /v1/sms/preview -H "X-Consumer-Custom-ID: $a" -H 'Content-Type: application/json' --data-binary "$b" "$@"; }
outbox_rows() { sql "SELECT count(*) FROM orch.outbox"; }
redis_port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$ORCH_REDIS_URL")
outbox_before=$(outbox_rows)

# 200: the members api.md lists
preview $A '{"to":"+1 (415) 555-0100","from":"ACME","body":"Hello"}' -H 'X-Request-ID: prev-1'
is "$STATUS" 200 "preview: 200"
is "$(header Content-Type)" application/json "... application/json"
is "$(header X-Request-ID)" prev-1 "... the request id is echoed"
is "$BODY" '{"to":"+14155550100","from":"ACME","encoding":"GSM7","segments":1,"characters":5,"charactersPerSegment":160,"charactersRemaining":155,"nonGsmCharacters":[],"body":"Hello"}' \
	"preview: normalized to, encoding, segments, characters, room, no replacedCharacters without smartEncoding"
preview $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"$(printf 'a%.0s' $(seq 1 161))\"}"
is "$(jq -c '[.encoding,.segments,.characters,.charactersPerSegment,.charactersRemaining]' <<<"$BODY")" '["GSM7",2,161,153,145]' \
	"preview: 161 GSM characters are 2 segments of 153, 145 left in the second"
preview $A '{"to":"+14155550100","from":"ACME","body":"Привет 😀 Привет!"}'
is "$(jq -c '[.encoding,.segments,.characters,.charactersPerSegment,.charactersRemaining,.nonGsmCharacters]' <<<"$BODY")" \
	'["UCS2",1,17,70,53,["П","р","и","в","е","т","😀"]]' "preview: UCS2, the emoji counts 2, nonGsmCharacters once each in order"
preview $A '{"to":"+14155550100","from":"ACME","body":"“Hi” – it’s… ｛ok｝","smartEncoding":true}'
is "$(jq -c '[.encoding,.segments,.characters,.replacedCharacters,.body,.nonGsmCharacters]' <<<"$BODY")" \
	'["GSM7",1,21,7,"\"Hi\" - it'"'"'s... {ok}",[]]' "preview with smartEncoding: the replaced body, GSM7, replacedCharacters"
preview $A '{"to":"+14155550100","from":"ACME","body":"“Привет”","smartEncoding":true}'
is "$(jq -c '[.encoding,.replacedCharacters,.body,(.nonGsmCharacters|length)]' <<<"$BODY")" '["UCS2",2,"\"Привет\"",6]' \
	"preview with smartEncoding: a text that stays UCS2 still has its quotes replaced"

# preview = send on the segment corpus, with and without smartEncoding
mkdir -p "$T_TMP/corpus"
"$ORCH_TOOLS/segcorpus" "$T_TMP/corpus" >"$T_TMP/corpus.list"
ok "segcorpus wrote the corpus ($(wc -l <"$T_TMP/corpus.list") rows)" test "$(wc -l <"$T_TMP/corpus.list")" -ge 60
# pair FILE DESC: the preview and the send of one body, answers kept under $T_TMP/pair/ for compare_pairs.
mkdir -p "$T_TMP/pair"
PAIRS=() PAIR_DESCS=()
pair() {
	local t
	t=$(printf 'p%03d' ${#PAIRS[@]})
	curl -sS -o "$T_TMP/pair/$t.p" -w '%{http_code}' -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
		--data-binary "@$1" "$BASE_URL/v1/sms/preview" >"$T_TMP/pair/$t.pc"
	curl -sS -o "$T_TMP/pair/$t.s" -w '%{http_code}' -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
		--data-binary "@$1" "$BASE_URL/v1/sms/send" >"$T_TMP/pair/$t.sc"
	PAIRS+=("$t") PAIR_DESCS+=("$2")
}
# compare_pairs: for each pair, preview = send: the same status and the same errors, or for a 200/202 the same
# encoding and segments, and the row send stored has the encoding, segments and body the preview showed.
# (One jq and one psql for all of them: a process per check is minutes on a loaded 2-core machine. The fields
# are split on U+001F, not on a tab: white space IFS would merge empty fields.)
compare_pairs() {
	declare -A sum enc body id row
	local f s e b i k t pc sc want got ids=""
	while IFS=$'\x1f' read -r f s e b i; do
		f=${f##*/} sum[$f]=$s enc[$f]=$e body[$f]=$b id[$f]=$i
		[ -n "$i" ] && ids="$ids${ids:+,}$i"
	done < <(jq -r '[input_filename, ([.type, [.errors[]? | [.field, .code, .detail]], .encoding, .segments] | tostring),
		((.encoding // "") + " " + ((.segments // 0) | tostring)), ((.body // "") | @base64), (.messageId // "")] | join("\u001f")' \
		"$T_TMP"/pair/*.p "$T_TMP"/pair/*.s)
	while IFS='|' read -r i s; do row[$i]=$s; done < <(sql "SELECT id || '|' || encoding || ' ' || segments || ' ' ||
		translate(encode(convert_to(body, 'UTF8'), 'base64'), E'\n', '') FROM orch.sms_messages WHERE id = ANY('{$ids}'::uuid[])")
	for k in "${!PAIRS[@]}"; do
		t=${PAIRS[$k]}
		read -r pc <"$T_TMP/pair/$t.pc"
		read -r sc <"$T_TMP/pair/$t.sc"
		want="$pc ${sum[$t.p]}" got="$sc ${sum[$t.s]}"
		if [ "$pc" = 200 ]; then
			want="202 ${sum[$t.p]} stored ${enc[$t.p]} ${body[$t.p]}"
			got="$got stored ${row[${id[$t.s]:-x}]:-none}"
		fi
		is "$got" "$want" "${PAIR_DESCS[$k]}"
	done
}
while IFS=$'\t' read -r n name; do
	pair "$T_TMP/corpus/$n.json" "corpus $n ($name): preview = send"
	pair "$T_TMP/corpus/$n-smart.json" "corpus $n ($name), smartEncoding: preview = send"
done <"$T_TMP/corpus.list"

# preview = send on smart-encoded bodies: the replacement moves segment boundaries both ways
n=0
while IFS= read -r body; do
	n=$((n + 1))
	for smart in false true; do
		printf '{"to":"+14155550100","from":"ACME","body":"%s","smartEncoding":%s}' "$body" "$smart" >"$T_TMP/smart-$n-$smart.json"
		pair "$T_TMP/smart-$n-$smart.json" "smart body $n, smartEncoding $smart: preview = send"
	done
done <<EOF
$(printf 'a%.0s' $(seq 1 158))“”
$(printf 'a%.0s' $(seq 1 158))…
$(printf 'a%.0s' $(seq 1 160))​
$(printf 'a%.0s' $(seq 1 152))｛$(printf 'a%.0s' $(seq 1 152))
$(printf 'ж%.0s' $(seq 1 70))​
$(printf 'ж%.0s' $(seq 1 68))…
“Quoted” — with a bullet • and a no-break space
a full-width ｀ stays UCS-2 ‘here’
​﻿
EOF
compare_pairs
ok "... and the pairs were compared (${#PAIRS[@]})" test ${#PAIRS[@]} -ge 130

# The table's generator refuses a data file that breaks its rules, naming the line (data/smart_encoding.txt)
gen() { printf "$1" >"$T_TMP/table.txt"; sh "$ORCH_ROOT/scripts/gen_smart_encoding.sh" "$T_TMP/table.txt" 2>&1 >"$T_TMP/table.c"; }
is "$(gen 'U+2018 U+0027 # a\nU+2018 U+0022 # b\n'; echo "rc=$? out=$(wc -c <"$T_TMP/table.c")")" \
	"$ORCH_ROOT/scripts/gen_smart_encoding.sh: $T_TMP/table.txt:2: U+2018 is given twice (first on line 1)"$'\n'"rc=1 out=0" \
	"generator: a code point twice is refused, nothing written"
like "$(gen 'U+0041 U+0042 # ascii\n')" ':1: U\+0041 is ASCII' "generator: an ASCII source is refused"
like "$(gen 'U+2018 U+00E9 # not ascii\n')" ':1: replacement U\+00E9 is not printable ASCII' "generator: a replacement outside ASCII is refused"
like "$(gen 'U+FF01..U+FF03 U+0021..U+0022 # uneven\n')" ':1: ranges .* differ in length' "generator: ranges of different lengths are refused"
like "$(gen 'U+2018 U+0027\n')" ':1: no comment' "generator: a line without its comment is refused"
ok "generator: the repository's table generates" sh "$ORCH_ROOT/scripts/gen_smart_encoding.sh" "$ORCH_ROOT/data/smart_encoding.txt"

# smartEncoding on send: the stored body is the replaced one
send $A '{"to":"+14155550100","from":"ACME","body":"“Hi” — it’s…","smartEncoding":true}'
is "$STATUS" 202 "send with smartEncoding: 202"
is "$(jq -c '[.encoding,.segments,.replacedCharacters]' <<<"$BODY")" '["GSM7",1,5]' "... GSM7 with replacedCharacters (5: “ ” — ’ …)"
sid=$(jq -r .messageId <<<"$BODY")
is "$(sql "SELECT body FROM orch.sms_messages WHERE id = '$sid'")" "\"Hi\" - it's..." "... the stored body is the replaced one"
send $A '{"to":"+14155550100","from":"ACME","body":"“Hi”"}'
is "$(jq -c '[.encoding,has("replacedCharacters")]' <<<"$BODY")" '["UCS2",false]' "send without smartEncoding: UCS2, no replacedCharacters"
send $A '{"to":"+14155550100","from":"ACME","body":"“Hi”","smartEncoding":false}'
is "$(jq -c '[.encoding,has("replacedCharacters")]' <<<"$BODY")" '["UCS2",false]' "send with smartEncoding false: the same"
send $A '{"to":"+14155550100","from":"ACME","body":"Hi","smartEncoding":"yes"}'
is_problem 400 "send: smartEncoding a string is 400"
has_error invalid_type smartEncoding "... invalid_type naming smartEncoding"

# smartEncoding on bulk items
bulk $A '{"messages":[{"to":"+447911123456","from":"ACME","body":"“one”","smartEncoding":true},{"to":"+447911123456","from":"ACME","body":"“two”"},{"to":"+447911123456","from":"ACME","body":"three","smartEncoding":1}]}'
is "$STATUS" 202 "bulk with smartEncoding items: 202"
is "$(jq -c '[.accepted,.rejected,.results[0].replacedCharacters,(.results[1]|has("replacedCharacters")),.results[2].error.field,.results[2].error.code]' <<<"$BODY")" \
	'[2,1,2,false,"smartEncoding","invalid_type"]' "bulk: replacedCharacters on the item that asked, the bad smartEncoding rejected by index"
b0=$(jq -r '.results[0].messageId' <<<"$BODY") b1=$(jq -r '.results[1].messageId' <<<"$BODY")
is "$(sql "SELECT string_agg(encoding || ':' || body, ' ' ORDER BY encoding) FROM orch.sms_messages WHERE id IN ('$b0', '$b1')")" \
	'GSM7:"one" UCS2:“two”' "bulk: the item with smartEncoding is stored replaced, the other as sent"

# The Idempotency-Key fingerprint takes smartEncoding
key=smart-$$
send $A '{"to":"+14155550100","from":"ACME","body":"“Hi”","smartEncoding":true}' -H "Idempotency-Key: $key"
first=$BODY
send $A '{"smartEncoding":true,"body":"“Hi”","from":"ACME","to":"+14155550100"}' -H "Idempotency-Key: $key"
is "$STATUS:$(header Idempotent-Replayed):$(jq -r .messageId <<<"$BODY")" "202:true:$(jq -r .messageId <<<"$first")" \
	"same key, same smart request: replayed, replacedCharacters and all"
is "$BODY" "$first" "... the same body"
send $A '{"to":"+14155550100","from":"ACME","body":"“Hi”"}' -H "Idempotency-Key: $key"
is_problem 422 "same key without smartEncoding: 422 idempotency-key-reused"

# The same 400s as send
for bad in '{"to":' '{"to":"+14155550100","from":"ACME","body":"x","to":"+14155550101"}' '[]' \
	'{"to":"+999 123 4567","from":"ACME","body":"x"}' '{"to":"+14155550100","from":"TOOLONGSENDER1","body":""}' \
	'{"to":"+14155550100","from":"ACME","body":"x","bodyy":1}' '{"to":"+14155550100","from":"ACME","body":"😀","encoding":"gsm7"}' \
	'{"to":"+14155550100","from":"ACME","body":"x","sendAt":"2020-01-01T00:00:00Z"}' \
	'{"to":"+14155550100","from":"ACME","body":"x","smartEncoding":"true"}' \
	'{"to":"+14155550100","from":"ACME","body":"​","smartEncoding":true}'; do
	send $A "$bad"
	s=$(jq -c '[.status,.type,.detail,.errors]' <<<"$BODY")
	preview $A "$bad"
	is "$(jq -c '[.status,.type,.detail,.errors]' <<<"$BODY")" "$s" "preview of '${bad:0:60}' answers the 400 send does"
done
preview $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"$(printf 'a%.0s' $(seq 1 1531))\"}"
has_error too_many_segments body "preview: 11 segments is 400 too_many_segments"

# The Idempotency-Key is ignored: neither claimed nor checked
ikey=prev-key-$$
preview $A "$MSG" -H "Idempotency-Key: $ikey"
is "$STATUS:$(header Idempotent-Replayed)" "200:" "preview with an Idempotency-Key: 200"
preview $A '{"to":"+14155550100","from":"ACME","body":"another text"}' -H "Idempotency-Key: $ikey"
is "$STATUS:$(jq -r .body <<<"$BODY")" "200:another text" "... another body with the same key: 200, its own answer"
preview $A "$MSG" -H 'Idempotency-Key: has space'
is "$STATUS" 200 "... an Idempotency-Key that is not valid is ignored too"
is "$(sql "SELECT count(*) FROM orch.idempotency_keys WHERE account_id = '$A' AND idem_key = '$ikey'")" 0 "... nothing recorded in PostgreSQL"
is "$(redis-cli -p "$redis_port" EXISTS "orch:idem:$A:$ikey")" 0 "... nothing claimed in Redis"
send $A "$MSG" -H "Idempotency-Key: $ikey"
is "$STATUS:$(header Idempotent-Replayed)" "202:" "a send with the key a preview carried is a first use"

# Nothing stored or published by preview (the sends above wrote their own rows)
B=acct-preview-only-$$
for body in "$MSG" '{"to":"+14155550100","from":"ACME","body":"“x”","smartEncoding":true}'; do
	preview $B "$body"
done
outbox_mid=$(outbox_rows)
for i in $(seq 1 20); do preview $B "$MSG"; done
is "$(count_messages $B)" 0 "preview: no message row"
is "$(sql "SELECT count(*) FROM orch.idempotency_keys WHERE account_id = '$B'")" 0 "preview: no idempotency record"
is "$(outbox_rows)" "$outbox_mid" "preview: no outbox row, so nothing to publish to NATS"
is "$(redis-cli -p "$redis_port" --scan --pattern "orch:idem:$B:*" | wc -l)" 0 "preview: no Redis key"

# Guards: 401, 405, 404, 413, 415
req POST /v1/sms/preview -H 'Content-Type: application/json' -d "$MSG"
is_problem 401 "preview without a Kong consumer: 401"
req POST /v1/sms/preview -H "X-Consumer-ID: $A" -H 'X-Anonymous-Consumer: true' -H 'Content-Type: application/json' -d "$MSG"
is_problem 401 "preview as the anonymous consumer: 401"
req GET /v1/sms/preview -H "X-Consumer-Custom-ID: $A"
is_problem 405 "GET /v1/sms/preview: 405 (not a message id)"
is "$(header Allow)" POST "... with Allow: POST"
req POST /v1/sms/preview/x -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' -d "$MSG"
is_problem 404 "POST /v1/sms/preview/x: 404"
head -c 70000 /dev/zero | tr '\0' a >"$T_TMP/big"
preview $A "@$T_TMP/big"
is_problem 413 "preview over 64 KiB: 413"
req POST /v1/sms/preview -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: text/plain' -d "$MSG"
is_problem 415 "preview as text/plain: 415"
req GET /metrics
like "$BODY" 'orch_http_requests_total\{route="POST /v1/sms/preview",status="200"\} [1-9]' "metrics count the previews under their route"
stop_serve

# The gateway token and ORCH_IDEMPOTENCY_REQUIRED
start_serve ORCH_UPSTREAM_TOKEN=prev-s3cr3t ORCH_IDEMPOTENCY_REQUIRED=true ORCH_ROLES=http,relay || exit 1
preview $A "$MSG"
is_problem 401 "token configured, none sent: preview 401"
preview $A "$MSG" -H 'X-Gateway-Token: prev-s3cr3T'
is_problem 401 "a wrong token: preview 401"
preview $A "$MSG" -H 'X-Gateway-Token: prev-s3cr3t'
is "$STATUS" 200 "the right token, no Idempotency-Key although keys are required: preview 200"
send $A "$MSG" -H 'X-Gateway-Token: prev-s3cr3t'
has_error missing_idempotency_key Idempotency-Key "... while send without a key is 400"
stop_serve
unlike "$(grep '"level":"error"' "$SERVE_LOG")" '.' "no error in the serve log"
unlike "$(cat "$SERVE_LOG")" 'prev-s3cr3t' "the token never appears in the logs"

# PostgreSQL and NATS down: preview still answers, send cannot
start_serve || exit 1
nats_stop
runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$ORCH_PG_DATA" -m immediate -w stop >/dev/null
preview $A '{"to":"+14155550100","from":"ACME","body":"“still here”","smartEncoding":true}'
is "$STATUS:$(jq -r .body <<<"$BODY")" '200:"still here"' "PostgreSQL and NATS down: preview 200"
send $A "$MSG"
is_problem 503 "... while send is 503"
"$ORCH_ROOT/scripts/stack.sh" start test >/dev/null 2>&1
send_ok() { send $A "$MSG"; [ "$STATUS" = 202 ]; }
wait_for "PostgreSQL and NATS back: send 202 again" 20 send_ok || diag "last answer: $STATUS $BODY"
stop_serve; rc=$?
is "$rc" 0 "serve exits 0 on SIGTERM"
json_only
done_testing
