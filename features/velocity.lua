-- Per-batch feature update and read, atomic and idempotent per event id.
--
-- ARGV: prefix, feature-cache TTL (s), key TTL (s), label delay (ms), event count, horizon (ms:
--       the latest time pruning may act on), then 6 values per event: event_id, customer_id,
--       terminal_id, event time (ms since epoch, UTC), amount (cents), content fingerprint.
-- Returns {one string: per event, 12 little-endian doubles in registry.RAW_COLUMNS order,
--          the store's history mark (below), then the 0-based indices of events whose id was
--          seen with another fingerprint}.
-- An event seen before (its feature blob is cached) gets its first answer back and changes
-- nothing, so a replay gives the same features and leaves the windows as one pass did. The
-- blob is stored with the event's fingerprint after it: an id seen again with other content is
-- reported (the caller dead-letters it), never answered with another event's features.
-- Keys are <prefix>:<kind>:<id>, one kind per structure (fv, c, ca, t, tf): a kind has no ':'
-- and an id only ever follows its kind, so no id, whatever it holds, names another's key.
local DAY = 86400000
-- Sets are pruned this much later than their windows need: terminal sets gather events from
-- every partition, which may be a little apart in event time (see worker/alignment.py), and an
-- event up to SLACK late still finds its whole customer window.
local SLACK = 7 * DAY
local WINDOWS = {1, 7, 30}
local prefix, fv_ttl, key_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local delay = tonumber(ARGV[4])
-- Pruning acts at an event's time but never past the horizon (the caller's clock plus its
-- tolerance): one event dated far ahead cannot cut the windows every later event needs.
local horizon = tonumber(ARGV[6])
local out, conflicts = {}, {}
local BLOB = 96  -- 12 doubles
local count = tonumber(ARGV[5])

-- The history mark: the event time (ms) from which this store holds every event, 0 when it
-- holds them all. Start-up and the rebuild set it (decision/history.py); a store without one
-- was emptied or replaced since, and is marked here, at its first batch, from that batch's
-- earliest event: the events whose windows reach back past the mark are flagged at once.
local state = prefix .. ':state'
local since = redis.call('HGET', state, 'since')
if not since then
  since = ARGV[10]
  for i = 1, count - 1 do
    local ts = ARGV[10 + i * 6]
    if tonumber(ts) < tonumber(since) then
      since = ts
    end
  end
  redis.call('HSET', state, 'since', since, 'by', 'first batch')
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
-- windows as of the customer's latest event time; an in-order event subtracts only the events that left each
-- window since then (usually none or one) instead of re-reading 30 days. An out-of-order or
-- first event falls back to the full scan. Both give exactly the same numbers.
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

for i = 0, count - 1 do
  local b = 7 + i * 6
  local eid, cid, tid = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local ts, cents, fp = tonumber(ARGV[b + 3]), ARGV[b + 4], ARGV[b + 5]
  local fvkey = prefix .. ':fv:' .. eid
  local blob = redis.call('GET', fvkey)
  if blob then
    -- a blob stored without a fingerprint (an older layout) or asked without one: no verdict
    local seen = string.sub(blob, BLOB + 1)
    if seen ~= '' and fp ~= '' and seen ~= fp then
      conflicts[#conflicts + 1] = i
    end
    blob = string.sub(blob, 1, BLOB)
  else
    local c = customer_windows(prefix .. ':c:' .. cid, prefix .. ':ca:' .. cid, eid, ts, cents)
    local t = terminal_windows(prefix .. ':t:' .. tid, prefix .. ':tf:' .. tid, eid, ts)
    blob = struct.pack('<dddddddddddd', c[1], c[2], c[3], c[4], c[5], c[6],
                       t[1], t[2], t[3], t[4], t[5], t[6])
    redis.call('SET', fvkey, blob .. fp, 'EX', fv_ttl)
  end
  out[#out + 1] = blob
end
local reply = {table.concat(out), tonumber(since)}
for j = 1, #conflicts do
  reply[#reply + 1] = conflicts[j]
end
return reply
