-- Keys spread over slots (features/spread.py): the customer windows of the events whose
-- customers' keys are in one slot (after windows.lua), idempotent per event id.
--
-- KEYS: the slot's history mark, then per event: its cached customer features, the
--       customer's events (zset), the customer's window aggregates (hash).
-- ARGV: windows.lua's six, the earliest event time, then per event: event_id, event time (ms),
--       amount (cents).
-- Returns {one string: per event, the 6 customer doubles of registry.RAW_COLUMNS, the slot's
--          history mark}. An event whose features are cached gets them back and changes nothing.
local since = history_mark(KEYS[1], function() return ARGV[7] end)
local out = {}
for i = 0, count - 1 do
  local b, k = 8 + i * 3, 2 + i * 3
  local blob = redis.call('GET', KEYS[k])
  if not blob then
    local c = customer_windows(KEYS[k + 1], KEYS[k + 2], ARGV[b], tonumber(ARGV[b + 1]), ARGV[b + 2])
    blob = struct.pack('<dddddd', c[1], c[2], c[3], c[4], c[5], c[6])
    redis.call('SET', KEYS[k], blob, 'EX', fv_ttl)
  end
  out[#out + 1] = blob
end
return {table.concat(out), tonumber(since)}
