-- The window functions shared by the feature scripts (velocity.lua: the whole batch in one
-- slot; spread_customer.lua, spread_terminal.lua, spread_claim.lua: keys spread over slots,
-- features/spread.py). A script is this file followed by its own body.
--
-- ARGV of every script starts: prefix, feature-cache TTL (s), key TTL (s), label delay (ms),
-- event count, horizon (ms: the latest time pruning may act on); the body's values follow.
local DAY = 86400000
-- Sets are pruned this much later than their windows need: terminal sets gather events from
-- every partition, which may be a little apart in event time (see worker/alignment.py), and an
-- event up to SLACK late still finds its whole customer window.
local SLACK = 7 * DAY
local WINDOWS = {1, 7, 30}
local prefix, fv_ttl, key_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local delay = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
-- Pruning acts at an event's time but never past the horizon (the caller's clock plus its
-- tolerance): one event dated far ahead cannot cut the windows every later event needs.
local horizon = tonumber(ARGV[6])

-- The history mark (hash ``state``): the event time (ms) from which the store holds every
-- event, 0 when it holds them all. Start-up and the rebuild set it (decision/history.py); a
-- store without one was emptied or replaced since, and is marked here, at its first batch,
-- from that batch's earliest event (``earliest()``, asked only then): the events whose
-- windows reach back past the mark are flagged at once.
local function history_mark(state, earliest)
  local since = redis.call('HGET', state, 'since')
  if not since then
    since = earliest()
    redis.call('HSET', state, 'since', since, 'by', 'first batch')
  end
  return since
end

local function cents_of(member)
  return tonumber(string.match(member, ':(%-?%d+)$'))
end

-- Full scan of the customer's 30 days: windows (ts - w, ts] over the events stored so far.
local function scan(ck, ts)
  local rows = redis.call('ZRANGEBYSCORE', ck, '(' .. (ts - 30 * DAY), ts, 'WITHSCORES')
  local res = {0, 0, 0, 0, 0, 0}
  for j = 1, #rows, 2 do
    local age = ts - tonumber(rows[j + 1])
    local c = cents_of(rows[j])
    for k = 1, 3 do
      if age < WINDOWS[k] * DAY then
        res[2 * k - 1] = res[2 * k - 1] + 1
        res[2 * k] = res[2 * k] + c
      end
    end
  end
  return res
end

-- Customer windows, maintained incrementally: the hash ak (<prefix>:ca:<customer>) holds the
-- windows as of the customer's latest event time; an in-order event subtracts only the events
-- that left each window since then (usually none or one) instead of re-reading 30 days. An
-- out-of-order or first event falls back to the full scan. Both give exactly the same numbers.
local function customer_windows(ck, ak, eid, ts, cents)
  local added = redis.call('ZADD', ck, ts, eid .. ':' .. cents)
  local agg = redis.call('HMGET', ak, 'ts', 'n1', 's1', 'n7', 's7', 'n30', 's30')
  local last = tonumber(agg[1])
  local res
  if added == 1 and last ~= nil and ts >= last then
    res = {}
    for k = 1, 3 do
      local w = WINDOWS[k] * DAY
      local n, sum = tonumber(agg[2 * k]), tonumber(agg[2 * k + 1])
      local gone = redis.call('ZRANGEBYSCORE', ck, '(' .. (last - w), ts - w)
      for j = 1, #gone do
        n = n - 1
        sum = sum - cents_of(gone[j])
      end
      res[2 * k - 1], res[2 * k] = n + 1, sum + tonumber(cents)
    end
  else
    res = scan(ck, ts)
  end
  if added == 1 then
    if last == nil or ts >= last then
      redis.call('HSET', ak, 'ts', ts, 'n1', res[1], 's1', res[2], 'n7', res[3], 's7', res[4],
                 'n30', res[5], 's30', res[6])
      -- keep SLACK more than the window needs, so a late event sees its whole window
      redis.call('ZREMRANGEBYSCORE', ck, '-inf', math.min(ts, horizon) - 30 * DAY - SLACK)
    else
      -- an older event: it also belongs to the windows of the latest time it falls into
      for k = 1, 3 do
        if ts > last - WINDOWS[k] * DAY then
          redis.call('HINCRBY', ak, 'n' .. WINDOWS[k], 1)
          redis.call('HINCRBY', ak, 's' .. WINDOWS[k], cents)
        end
      end
    end
    redis.call('EXPIRE', ak, key_ttl)
  end
  redis.call('EXPIRE', ck, key_ttl)
  return res
end

local function terminal_windows(tk, fk, eid, ts)
  local cut = math.min(ts, horizon) - delay - 30 * DAY - SLACK
  redis.call('ZADD', tk, ts, eid)
  redis.call('ZREMRANGEBYSCORE', tk, '-inf', cut)
  redis.call('EXPIRE', tk, key_ttl)
  redis.call('ZREMRANGEBYSCORE', fk, '-inf', cut)
  local hi = ts - delay
  local res = {}
  for k = 1, 3 do
    local lo = '(' .. (hi - WINDOWS[k] * DAY)
    res[2 * k - 1] = redis.call('ZCOUNT', tk, lo, hi)
    res[2 * k] = redis.call('ZCOUNT', fk, lo, hi)
  end
  return res
end
