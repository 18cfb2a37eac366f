-- The bookkeeping the wrk scripts of scripts/bench.sh share: each loads it
-- with dofile and calls bench_requests(path, body, msgs_per_request), which
-- defines wrk's setup, init, request, response and done. Every request gets
-- its own Idempotency-Key (run tag + thread id + counter + random); done()
-- prints p50/p99 per request and the status counts, and one machine-readable
-- BENCH_RESULT line (msgs_per_s = 202s/s x messages per request).
local threads = {}

function bench_requests(path, body, msgs_per_request)
	local account = os.getenv("BENCH_ACCOUNT") or "bench"

	function setup(thread)
		thread:set("id", #threads + 1)
		table.insert(threads, thread)
	end

	function init(args)
		counter = 0
		n202 = 0
		non202 = 0
		codes = {}
		math.randomseed(os.time() * 1000 + id * 7919)
		tag = os.getenv("BENCH_RUN_TAG") or tostring(os.time())
		headers = {
			["Content-Type"] = "application/json",
			["X-Consumer-Custom-ID"] = account,
		}
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
end
