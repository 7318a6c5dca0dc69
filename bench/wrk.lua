-- wrk script for bench/run.sh: an optional JSON POST (WRK_BODY set), optional pipelining
-- (WRK_PIPELINE requests written at once, wrk's own pipeline example), and one JSON line of
-- results at the end, so the harness never scrapes wrk's human output.
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local depth = tonumber(os.getenv("WRK_PIPELINE") or "1") or 1
if depth > 1 then
  local batch
  init = function(args)
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format()
    end
    batch = table.concat(r)
  end
  request = function()
    return batch
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
