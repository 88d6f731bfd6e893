-- Shared by the scripts that write timelines (prepended to them when they are built).
--
-- A lead's timeline is ONE string: the newest entry first, entries separated by \30 (ASCII
-- record separator, which entries never contain), at most `cap` entries. On Redis 7.0 a
-- capped list of 5 entries costs about 340 bytes; this string costs about 200.
local function push_timeline(key, entry, cap)
  local old = redis.call('GET', key)
  local timeline = old and (entry .. '\30' .. old) or entry
  local at, count = 0, 0
  while true do
    at = string.find(timeline, '\30', at + 1, true)
    if not at then
      break
    end
    count = count + 1
    if count == cap then
      timeline = string.sub(timeline, 1, at - 1)
      break
    end
  end
  redis.call('SET', key, timeline)
end

