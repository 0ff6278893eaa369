-- The closed-loop mix of bench/load/run.py's `wrk` run: per 10 requests, 3 collection lists,
-- 3 chunk pages, 3 operation polls (authenticated reads) and one 20 KB preview, each with the
-- next account of WRK_ACCOUNTS_FILE (lines "token collection_id operation_id"), so per-user
-- limits apply as they would to that many users. WRK_PREVIEW_FILE: the preview's JSON body.
local accounts = {}
for line in io.lines(os.getenv("WRK_ACCOUNTS_FILE")) do
  local token, collection, operation = line:match("(%S+) (%S+) (%S+)")
  accounts[#accounts + 1] = { token = token, collection = collection, operation = operation }
end
local file = io.open(os.getenv("WRK_PREVIEW_FILE"), "rb")
local preview = file:read("*a")
file:close()
local n = 0
local threads = {}
statuses = {}  -- per thread (each runs its own copy of this script): status -> responses

setup = function(thread)
  thread:set("offset", math.random(1, #accounts))
  threads[#threads + 1] = thread
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- One line for bench/load/run.py: "Statuses: 200=9000 429=300", summed over the threads.
done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do parts[#parts + 1] = status .. "=" .. count end
  table.sort(parts)
  io.write("Statuses: " .. table.concat(parts, " ") .. "\n")
end

request = function()
  n = n + 1
  local account = accounts[(n + (offset or 0)) % #accounts + 1]
  local headers = { ["Authorization"] = "Bearer " .. account.token }
  local slot = n % 10
  if slot == 0 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/preview", headers, preview)
  elseif slot <= 3 then
    return wrk.format("GET", "/api/v1/collections", headers)
  elseif slot <= 6 then
    return wrk.format("GET", "/api/v1/collections/" .. account.collection .. "/chunks?limit=20",
                      headers)
  end
  return wrk.format("GET", "/api/v1/operations/" .. account.operation, headers)
end
