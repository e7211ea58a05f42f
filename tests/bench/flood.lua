-- flood.lua: POST /predict from a new client address every request, as
-- a trusted proxy would report it in X-Forwarded-For (10.0.0.0/8, then
-- 11.0.0.0/8 ...: distinct until 2^24 requests per thread).
local counter = 0
local threads_n = 1
id = 0		-- global: setup() overwrites it in each thread
next_id = 0

function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
end

function init(args)
	threads_n = tonumber(os.getenv("FLOOD_THREADS") or "2")
end

local body = '{"text": "flooding from many addresses"}'

function request()
	local n = counter * threads_n + id
	counter = counter + 1
	local ip = string.format("%d.%d.%d.%d", 10 + math.floor(n / 16777216),
	    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
	return wrk.format("POST", "/predict", {
	    ["Content-Type"] = "application/json",
	    ["X-Forwarded-For"] = ip }, body)
end
