-- wrk script for scripts/bench.sh, phase (c): POST /v1/sms/bulk with
-- BENCH_BULK_SIZE (default 100) messages per request, each request with its
-- own Idempotency-Key (scripts/bench/common.lua).
local msgs_per_request = tonumber(os.getenv("BENCH_BULK_SIZE") or "100")
local items = {}
for i = 1, msgs_per_request do
	items[i] = string.format('{"to":"+1415555%04d","from":"ACME","body":"bench message %d"}', i % 10000, i)
end
local body = '{"messages":[' .. table.concat(items, ",") .. ']}'
dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/common.lua")
bench_requests("/v1/sms/bulk", body, msgs_per_request)
