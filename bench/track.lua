-- bench/track.lua — wrk script of bench/track.sh.
--
--   wrk … -s bench/track.lua URL -- paths FILE THREADS   tracking: the paths of FILE in turn
--   wrk … -s bench/track.lua URL -- path /livez          one path over and over (the baseline)
--   wrk … -s bench/track.lua URL -- paths FILE THREADS POST BODY
--                                                        a form POST of BODY to each path of FILE
--                                                        (bench/preferences.sh: one-click unsubscribe)
--
-- FILE holds one path a line (bench/track_urls.py: an open, then a click, per message). Each
-- thread starts at its own share of the file (thread k of THREADS at line 1 + (k-1)·n/THREADS)
-- and goes round, so threads do not hit the same messages in lockstep. Requests are formatted
-- once, in init, so wrk spends as little CPU per request as it can on a machine it shares with
-- the server; both modes go through the same Lua hooks, so the baseline pays the same costs.
--
-- A response whose status is not 2xx or 3xx counts as an error. done() prints one line that
-- bench/track.sh reads:
--   RESULT requests=… responses=… errors=… seconds=… rps=… p50_ms=… p99_ms=… max_ms=…
--          connect=… read=… write=… timeout=… status=… (wrk's own error counts)

-- A mail program's agent, so the events are people's opens and clicks (Apple Mail on iOS).
local user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_number", #threads)
end

function init(args)
    local mode = args[1]
    local list = {}
    if mode == "paths" then
        local file = assert(io.open(args[2], "r"), "cannot open " .. tostring(args[2]))
        for line in file:lines() do
            if line ~= "" then list[#list + 1] = line end
        end
        file:close()
        assert(#list > 0, "no paths in " .. args[2])
    elseif mode == "path" then
        list[1] = assert(args[2], "path mode needs a path")
    else
        error("usage: -- paths FILE THREADS | -- path PATH")
    end

    local headers = {
        ["User-Agent"] = user_agent,
        ["Accept"] = "image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5",
        ["Accept-Language"] = "fr-FR,fr;q=0.9",
    }
    local method = args[4] or "GET"
    local body = args[5]
    if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
    prepared = {}
    for i = 1, #list do
        prepared[i] = wrk.format(method, list[i], headers, body)
    end
    count = #prepared

    local share = math.floor(count / math.max(tonumber(args[3]) or 1, 1))
    position = ((thread_number - 1) * share) % count + 1
    responses = 0
    errors = 0
end

function request()
    local text = prepared[position]
    position = position + 1
    if position > count then position = 1 end
    return text
end

function response(status, headers, body)
    responses = responses + 1
    if status < 200 or status > 399 then errors = errors + 1 end
end

function done(summary, latency, requests)
    local responded, failed = 0, 0
    for _, thread in ipairs(threads) do
        responded = responded + (thread:get("responses") or 0)
        failed = failed + (thread:get("errors") or 0)
    end
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d responses=%d errors=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
            .. "connect=%d read=%d write=%d timeout=%d status=%d\n",
        summary.requests, responded, failed, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        e.connect, e.read, e.write, e.timeout, e.status))
end
