-- wrk script for scripts/bench.sh, phase (e): POST /v1/sms/send, one message
-- per request with its own Idempotency-Key, paced to a steady offered rate.
-- wrk is closed-loop; delay() (called before each request, returns ms) hands
-- out send slots BENCH_PACE_MS apart per wrk thread (so the offered rate is
-- BENCH_PACE_THREADS x 1000 / BENCH_PACE_MS per second) from a monotonic clock (LuaJIT
-- ffi). A slot missed by more than 100 ms because every connection was busy
-- is not made up with a burst. done() prints the same BENCH_RESULT line as send.lua (wrk's latency
-- excludes the delay). BENCH_PACE_BODY, when set, is the request body (phase p: a high message).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_ms()
	ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "1")
local nthreads = tonumber(os.getenv("BENCH_PACE_THREADS") or "1")

dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/common.lua")
bench_requests("/v1/sms/send", os.getenv("BENCH_PACE_BODY") or '{"to":"+14155550100","from":"ACME","body":"bench message"}', 1)

function delay()
	local now = now_ms()
	if next_slot == nil then
		-- spread the threads' slots over one interval
		next_slot = now + pace_ms * (id - 1) / nthreads
	end
	-- A slot a little in the past (timer granularity, a busy moment) is taken
	-- at once, so the average rate holds; one more than 100 ms late is dropped
	-- (every connection was busy), not made up with a burst.
	local slot = next_slot
	if slot < now - 100 then
		slot = now
	end
	next_slot = slot + pace_ms
	local d = slot - now
	if d < 0 then
		return 0
	end
	return math.floor(d + 0.5)
end
