-- `cargo xtask bench flood`: what an anonymous flood and a busy office send at
-- once. xtask runs one wrk per kind of request, all at the same time:
--   page   a signed-in page (map, checklist, health) or the sign-in page
--   base   a basemap tile somewhere over the UK, mostly never asked before
--   cover  a coverage tile of the selection, mostly never asked before
--   far    a tile out of range (zoom 21-30, or x/y past the edge)
--   login  a wrong password for the user, from the attacker's address
-- Answers are counted per status; `done` prints one line per status:
--   status <code> <count>
-- (a 429 or 503 without Retry-After is also counted as status -429 / -503).
-- wrk's args: <kind> <cookie> <coverage tile URL with {z}/{x}/{y}> <host:port>
--             <user name> <attacker's address, sent as X-Forwarded-For>

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local pages = { "/map", "/checklist", "/health", "/login" }

function init(args)
  kind = args[1]
  cookie = args[2]
  cover = args[3]
  host = args[4]
  user = args[5]
  attacker = args[6]
  counts = {}
  math.randomseed(os.time() * 100 + id)
end

-- A random tile of zoom z within the UK's box (lon -8.7..1.8, lat 49.8..60.9).
local function uk_tile(z)
  local scale = 2 ^ z
  local function x_of(lon) return math.floor((lon + 180) / 360 * scale) end
  local function y_of(lat)
    local r = math.rad(lat)
    return math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * scale)
  end
  return z, math.random(x_of(-8.7), x_of(1.8)), math.random(y_of(60.9), y_of(49.8))
end

function request()
  if kind == "page" then
    local path = pages[math.random(#pages)]
    local headers = { ["Accept-Encoding"] = "gzip" }
    if path ~= "/login" then headers["Cookie"] = "sb_session=" .. cookie end
    return wrk.format("GET", path, headers)
  elseif kind == "base" then
    local z, x, y = uk_tile(math.random(6, 14))
    return wrk.format("GET", string.format("/tiles/base/%d/%d/%d.png", z, x, y))
  elseif kind == "cover" then
    local z, x, y = uk_tile(math.random(6, 13))
    local path = cover:gsub("{z}", z):gsub("{x}", x):gsub("{y}", y)
    return wrk.format("GET", path)
  elseif kind == "far" then
    -- Zoom 20 is the deepest served: 21 and beyond, or x past 2^z - 1.
    local z = math.random(21, 30)
    local x, y = math.random(0, 1e9), math.random(0, 1e9)
    if math.random(2) == 1 then
      z = math.random(0, 12)
      x = 2 ^ z + math.random(0, 1000)
    end
    return wrk.format("GET", string.format("/tiles/base/%d/%d/%d.png", z, x, y))
  else
    local body = "username=" .. user .. "&password=guess" .. math.random(1, 1e9) .. "&next=%2F"
    return wrk.format("POST", "/login", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Origin"] = "http://" .. host,
      ["X-Forwarded-For"] = attacker,
    }, body)
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if (status == 429 or status == 503) and headers["Retry-After"] == nil
      and headers["retry-after"] == nil then
    -- Shed work must say when to come back: counted as its own "status".
    counts[-status] = (counts[-status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do totals[k] = (totals[k] or 0) + v end
  end
  for k, v in pairs(totals) do
    io.write(string.format("status %d %d\n", k, v))
  end
end
