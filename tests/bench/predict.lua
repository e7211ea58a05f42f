-- predict.lua: wrk script for POST /predict.  Counts responses by status
-- class in every thread and prints one machine-readable summary line:
--   WRK requests=N ok=N non2xx=N errors=N rps=X p50_ms=X p90_ms=X p99_ms=X max_ms=X
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- WRK_BODY replaces the body (bench.sh sends an empty text to time the
-- HTTP side alone: a 422 touches neither the model nor the database).
wrk.body = os.getenv("WRK_BODY") or
    '{"text": "The staff were friendly and the food was great, ' ..
    'but the wait was far too long and the room was noisy."}'

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	ok = 0
	bad = 0
end

function response(status, headers, body)
	if status >= 200 and status < 300 then
		ok = ok + 1
	else
		bad = bad + 1
	end
end

function done(summary, latency, requests)
	local okn, badn = 0, 0
	for _, t in ipairs(threads) do
		okn = okn + t:get("ok")
		badn = badn + t:get("bad")
	end
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.timeout
	io.write(string.format(
	    "WRK requests=%d ok=%d non2xx=%d errors=%d rps=%.1f " ..
	    "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	    summary.requests, okn, badn, errors,
	    summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
	    latency:percentile(99) / 1000, latency.max / 1000))
end
