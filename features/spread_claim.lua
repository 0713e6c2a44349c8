-- Keys spread over slots (features/spread.py), first step: claim each event id (after
-- windows.lua). All KEYS are in one slot: the fingerprint key of each event id in it.
--
-- ARGV: windows.lua's six, then one content fingerprint per event (KEYS[i] is event i's key).
-- Returns the 0-based indices of events whose id was claimed before with another
-- fingerprint: those must change nothing. A first claim stores the fingerprint for as long as
-- the features are cached; an id seen again with its own fingerprint is a replay.
local conflicts = {}
for i = 1, count do
  local fp = ARGV[6 + i]
  local seen = redis.call('GET', KEYS[i])
  if not seen then
    redis.call('SET', KEYS[i], fp, 'EX', fv_ttl)
  elseif seen ~= '' and fp ~= '' and seen ~= fp then
    conflicts[#conflicts + 1] = i - 1
  end
end
return conflicts
