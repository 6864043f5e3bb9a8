-- wrk script: POST /api/v1/log/entries against a tianping server, the same request that
-- `tianping-bench http` sends (a ~1 KiB JSON content of mixed Chinese and ASCII text).
--
--   tianping-bench http --print-wrk        # starts a server, prints token and URL
--   TIANPING_TOKEN=tp_... wrk -t2 -c64 -d20s --latency -s bench/append.lua http://127.0.0.1:PORT/api/v1/log/entries
--
-- Any status other than 201 is counted and reported at the end.

local token = os.getenv("TIANPING_TOKEN")
if token == nil or token == "" then
  error("set TIANPING_TOKEN to an API token of the server (tianping-bench http --print-wrk prints one)")
end

-- Content {"seq":0,"text":"..."} whose canonical JSON is CONTENT_BYTES bytes: whole phrases
-- (never a cut UTF-8 sequence), then ASCII dots. Nothing in the text needs a JSON escape.
local CONTENT_BYTES = 1024
local phrase = "患者主诉头痛三天，伴轻度发热与咳嗽；查体：体温37.8℃，咽部充血。"
  .. "Patient reports headache for 3 days with mild fever and cough. "
local frame = #'{"seq":0,"text":""}'
local room = CONTENT_BYTES - frame
local text = ""
while #text + #phrase <= room do
  text = text .. phrase
end
text = text .. string.rep(".", room - #text)

wrk.method = "POST"
wrk.path = "/api/v1/log/entries"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = '{"kind":"bench.append","subject":"patient-wrk","content":{"seq":0,"text":"' .. text .. '"}}'

-- Each wrk thread has its own Lua state: count there, add up in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_created = 0
end

function response(status, headers, body)
  if status ~= 201 then
    not_created = not_created + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("not_created")
  end
  io.write(string.format("responses other than 201: %d\n", failed))
  io.write(string.format("errors (connect/read/write/timeout): %d/%d/%d/%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
