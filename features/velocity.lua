-- Per-batch feature update and read, atomic and idempotent per event id (after windows.lua).
--
-- ARGV: windows.lua's six, then 6 values per event: event_id, customer_id, terminal_id, event
--       time (ms since epoch, UTC), amount (cents), content fingerprint.
-- Returns {one string: per event, 12 little-endian doubles in registry.RAW_COLUMNS order,
--          the store's history mark, then the 0-based indices of events whose id was seen with
--          another fingerprint}.
-- An event seen before (its feature blob is cached) gets its first answer back and changes
-- nothing, so a replay gives the same features and leaves the windows as one pass did. The
-- blob is stored with the event's fingerprint after it: an id seen again with other content is
-- reported (the caller dead-letters it), never answered with another event's features.
-- Keys are <prefix>:<kind>:<id>, one kind per structure (fv, c, ca, t, tf): a kind has no ':'
-- and an id only ever follows its kind, so no id, whatever it holds, names another's key.
local out, conflicts = {}, {}
local BLOB = 96  -- 12 doubles

local function earliest()
  local first = ARGV[10]
  for i = 1, count - 1 do
    local ts = ARGV[10 + i * 6]
    if tonumber(ts) < tonumber(first) then
      first = ts
    end
  end
  return first
end
local since = history_mark(prefix .. ':state', earliest)

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
