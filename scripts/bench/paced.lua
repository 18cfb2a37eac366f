-- wrk script for scripts/bench.sh, phase (e): POST /v1/sms/send, one message
-- per request with its own Idempotency-Key, paced to a steady offered rate.
-- wrk is closed-loop; delay() (called before each request, returns ms) hands
-- out send slots BENCH_PACE_MS apart per wrk thread (so the offered rate is
-- BENCH_PACE_THREADS x 1000 / BENCH_PACE_MS per second) from a monotonic clock (LuaJIT
-- ffi). A slot missed by more than 100 ms because every connection was busy
-- is not made up with a burst. done() prints the same BENCH_RESULT line as send.lua (wrk's latency
-- excludes the delay).
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

local path = "/v1/sms/send"
local account = os.getenv("BENCH_ACCOUNT") or "bench"
local body = '{"to":"+14155550100","from":"ACME","body":"bench message"}'
local msgs_per_request = 1
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "1")
local nthreads = tonumber(os.getenv("BENCH_PACE_THREADS") or "1")

local threads = {}

function setup(thread)
	thread:set("id", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	counter = 0
	n202 = 0
	non202 = 0
	codes = {}
	next_slot = nil
	math.randomseed(os.time() * 1000 + id * 7919)
	tag = os.getenv("BENCH_RUN_TAG") or tostring(os.time())
	headers = {
		["Content-Type"] = "application/json",
		["X-Consumer-Custom-ID"] = account,
	}
end

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

function request()
	counter = counter + 1
	headers["Idempotency-Key"] = string.format("bench-%s-%d-%d-%d", tag, id, counter, math.random(1, 1000000000))
	return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, resp_body)
	if status == 202 then
		n202 = n202 + 1
	else
		non202 = non202 + 1
		codes[status] = (codes[status] or 0) + 1
	end
end

function done(summary, latency, requests)
	local ok, bad, all = 0, 0, {}
	for _, t in ipairs(threads) do
		ok = ok + t:get("n202")
		bad = bad + t:get("non202")
		for code, n in pairs(t:get("codes")) do
			all[code] = (all[code] or 0) + n
		end
	end
	local list = {}
	for code, n in pairs(all) do
		table.insert(list, string.format("%d:%d", code, n))
	end
	table.sort(list)
	local e = summary.errors
	local sockerr = e.connect + e.read + e.write + e.timeout
	local secs = summary.duration / 1e6
	local p50 = latency:percentile(50) / 1000
	local p99 = latency:percentile(99) / 1000
	io.write(string.format("  p50 %.2f ms, p99 %.2f ms (per request)\n", p50, p99))
	io.write(string.format("  202: %d, non-202: %d %s, socket errors: %d (connect %d, read %d, write %d, timeout %d)\n",
		ok, bad, #list > 0 and ("[" .. table.concat(list, " ") .. "]") or "", sockerr,
		e.connect, e.read, e.write, e.timeout))
	io.write(string.format("BENCH_RESULT responses=%d ok=%d non202=%d codes=%s sockerr=%d seconds=%.3f " ..
		"ok_per_s=%.1f msgs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f\n",
		summary.requests, ok, bad, #list > 0 and table.concat(list, ",") or "-", sockerr, secs,
		ok / secs, ok * msgs_per_request / secs, p50, p99))
end
