-- wrk script: POST /events with BATCH events per request (default 1), each a distinct
-- (user, item) pair, user ids unique per wrk thread and connection counter.
-- Usage: wrk -t2 -c64 -d15s -s events.lua http://127.0.0.1:8010 -- BATCH TOKEN
-- At the end it prints: RESULT {json} (latencies in ms, rps = requests/s; events/s = rps × BATCH).

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local batch = 1
local counter = 0
local items = {"85123A", "71053", "84406B", "22423", "47566", "84879", "21212", "20725", "22720", "85099B",
               "22197", "84991", "21931", "22386", "23203", "20727", "22382", "22457", "22469", "POST"}

function init(args)
  batch = tonumber(args[1] or "1")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (args[2] or "bench")
end

function request()
  local parts = {}
  for b = 1, batch do
    counter = counter + 1
    parts[b] = string.format('{"user":"w%d-%d","item":"%s"}', tid, counter % 100000, items[(counter % #items) + 1])
  end
  local body
  if batch == 1 then body = parts[1] else body = "[" .. table.concat(parts, ",") .. "]" end
  return wrk.format("POST", "/events", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests": %d, "duration_s": %.3f, "rps": %.2f, ' ..
    '"lat_p50_ms": %.3f, "lat_p99_ms": %.3f, "lat_max_ms": %.3f, ' ..
    '"err_connect": %d, "err_read": %d, "err_write": %d, "err_timeout": %d, "non_2xx_3xx": %d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.timeout, e.status))
end
