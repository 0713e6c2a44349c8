-- Keys spread over slots (features/spread.py): the terminal windows of the events whose
-- terminals' keys are in one slot (after windows.lua), idempotent per event id.
--
-- KEYS: the slot's history mark, then per event: its cached terminal features, the terminal's
--       events (zset), the terminal's events labelled fraud (zset).
-- ARGV: windows.lua's six, the earliest event time, then per event: event_id, event time (ms).
-- Returns {one string: per event, the 6 terminal doubles of registry.RAW_COLUMNS, the slot's
--          history mark}. An event whose features are cached gets them back and changes nothing.
local since = history_mark(KEYS[1], function() return ARGV[7] end)
local out = {}
for i = 0, count - 1 do
  local b, k = 8 + i * 2, 2 + i * 3
  local blob = redis.call('GET', KEYS[k])
  if not blob then
    local t = terminal_windows(KEYS[k + 1], KEYS[k + 2], ARGV[b], tonumber(ARGV[b + 1]))
    blob = struct.pack('<dddddd', t[1], t[2], t[3], t[4], t[5], t[6])
    redis.call('SET', KEYS[k], blob, 'EX', fv_ttl)
  end
  out[#out + 1] = blob
end
return {table.concat(out), tonumber(since)}
