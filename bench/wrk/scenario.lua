-- wrk script for bench/api_vs_baseline.py: one scenario per run, chosen by environment variables.
--   BENCH_SCENARIO  retrieve | baseline_retrieve | filter_external_id | list_first | baseline_list |
--                   list_deep | create | baseline_create | put_groups | add_member |
--                   raw_retrieve | raw_list | raw_create (the raw psycopg app, bench/raw_app.py)
--   BENCH_FIXTURE   file with lines "key value" written by the harness (api key, ids, cursor)
--   BENCH_DELAY_MS  optional pause before each request of a connection (rate-limited runs)
--   BENCH_RUN       a unique token, so created external_ids never collide between runs
local scenario = os.getenv("BENCH_SCENARIO")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local page_size = os.getenv("BENCH_PAGE_SIZE") or "100"

local api_key, cursor
local customers, external_ids, groups = {}, {}, {}
local counter, thread_id = 0, 0
local threads = {}

local function load_fixture()
  for line in io.lines(os.getenv("BENCH_FIXTURE")) do
    local k, v = line:match("^(%S+) (%S+)$")
    if k == "api_key" then api_key = v
    elseif k == "cursor" then cursor = v
    elseif k == "customer" then customers[#customers + 1] = v
    elseif k == "external_id" then external_ids[#external_ids + 1] = v
    elseif k == "group" then groups[#groups + 1] = v
    end
  end
end

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  load_fixture()
  thread_id = tonumber(tid) or 0
  math.randomseed(os.time() * 1000 + thread_id)
  wrk.headers["Authorization"] = "Bearer " .. api_key
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

local function pick(list) return list[math.random(#list)] end

local function group_ids_json(n)
  local chosen, seen = {}, {}
  while #chosen < n do
    local g = pick(groups)
    if not seen[g] then seen[g] = true; chosen[#chosen + 1] = '"' .. g .. '"' end
  end
  return "[" .. table.concat(chosen, ",") .. "]"
end

function request()
  if scenario == "retrieve" then
    return wrk.format("GET", "/api/v1/customers/" .. pick(customers))
  elseif scenario == "baseline_retrieve" then
    return wrk.format("GET", "/bench/baseline/customers/" .. pick(customers))
  elseif scenario == "raw_retrieve" then
    return wrk.format("GET", "/raw/customers/" .. pick(customers))
  elseif scenario == "raw_list" then
    return wrk.format("GET", "/raw/customers?page_size=" .. page_size)
  elseif scenario == "filter_external_id" then
    return wrk.format("GET", "/api/v1/customers?external_id=" .. pick(external_ids))
  elseif scenario == "list_first" then
    return wrk.format("GET", "/api/v1/customers?page_size=" .. page_size)
  elseif scenario == "baseline_list" then
    return wrk.format("GET", "/bench/baseline/customers?page_size=" .. page_size)
  elseif scenario == "list_deep" then
    return wrk.format("GET", "/api/v1/customers?page_size=" .. page_size .. "&cursor=" .. cursor)
  elseif scenario == "create" or scenario == "baseline_create" or scenario == "raw_create" then
    counter = counter + 1
    local ext = string.format("BENCH-%s-%d-%d", run, thread_id, counter)
    local body = string.format(
      '{"name": "Bench Create %d Ltd", "external_id": "%s", "address_country": "de", "group_ids": %s}',
      counter, ext, group_ids_json(2))
    local paths = {create = "/api/v1/customers", baseline_create = "/bench/baseline/customers",
                   raw_create = "/raw/customers"}
    local path = paths[scenario]
    return wrk.format("POST", path, nil, body)
  elseif scenario == "put_groups" then
    local body = string.format(
      '{"name": "Bench Put %d Ltd", "address_country": "FR", "address_city": "Paris", "group_ids": %s}',
      math.random(1000000), group_ids_json(3))
    return wrk.format("PUT", "/api/v1/customers/" .. pick(customers), nil, body)
  elseif scenario == "add_member" then
    local body = '{"customer_id": "' .. pick(customers) .. '"}'
    return wrk.format("POST", "/api/v1/groups/" .. pick(groups) .. "/customers", nil, body)
  end
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

local bad = 0
function response(status, headers, body)
  if status >= 400 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("HTTP " .. status .. ": " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, e.status, e.connect + e.read + e.write + e.timeout))
end
