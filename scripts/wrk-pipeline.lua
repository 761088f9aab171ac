-- wrk script for scripts/bench_http.sh.
--
--   wrk ... -s scripts/wrk-pipeline.lua URL -- DEPTH
--
-- DEPTH > 1: every write carries DEPTH pipelined GET requests for the URL's path (built once
-- with wrk.format in init and concatenated); wrk waits for all DEPTH responses before the next
-- write and counts each response as one request. Its latency figure is then per batch.
-- DEPTH = 1 (the default): no request() is defined, so wrk keeps its static, Lua-free request
-- path, exactly as a run without a script.
--
-- Either way done() prints one line, "wrk-json: {...}", that the benchmark script parses
-- instead of wrk's human-readable report. Times are in microseconds.

init = function(args)
   local depth = tonumber(args[1] or "1")
   if depth == nil or depth < 1 or depth ~= math.floor(depth) then
      error("wrk-pipeline.lua: DEPTH must be a positive integer, got " .. tostring(args[1]))
   end
   if depth > 1 then
      local batch = {}
      for i = 1, depth do
         batch[i] = wrk.format(nil, wrk.path)
      end
      local requests = table.concat(batch)
      -- Defined only now: wrk decides after init() whether requests are generated per call.
      request = function()
         return requests
      end
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'wrk-json: {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ' ..
      '"latency_us": {"mean": %.2f, "stdev": %.2f, "max": %d, "p50": %d, "p99": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50.0), latency:percentile(99.0)))
end
