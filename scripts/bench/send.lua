-- wrk script for scripts/bench.sh, phase (b): POST /v1/sms/send, one message
-- per request, each request with its own Idempotency-Key
-- (scripts/bench/common.lua).
dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/common.lua")
bench_requests("/v1/sms/send", '{"to":"+14155550100","from":"ACME","body":"bench message"}', 1)
