-- Shared by the scripts that write timelines (prepended to them when they are built, after
-- the generated preamble that defines TIMELINE_SEGMENT and TIMELINE_SEGMENTS).
--
-- A lead's timeline is a short head string of its newest entries, oldest first, separated by
-- \30 (ASCII record separator, which entries never contain); and a list of older segments
-- (former heads), newest first. When the head holds TIMELINE_SEGMENT entries it becomes the
-- newest older segment, and the list keeps TIMELINE_SEGMENTS of them. An event so costs the
-- same however long the timeline is: the head (at most TIMELINE_SEGMENT entries) is read,
-- counted and written again with the new entry, and every TIMELINE_SEGMENT-th event makes
-- one bounded move. The head is written whole with SET rather than grown with APPEND: APPEND
-- leaves the string with as much free room again as it holds, which would double a small
-- lead's timeline in memory. A lead just made has no timeline yet: `fresh` skips the read.
local function push_timeline(head, older, entry, fresh)
  local current = not fresh and redis.call('GET', head)
  if current then
    local entries, at = 1, 0
    while true do
      at = string.find(current, '\30', at + 1, true)
      if not at then
        break
      end
      entries = entries + 1
    end
    if entries >= TIMELINE_SEGMENT then
      redis.call('LPUSH', older, current)
      redis.call('LTRIM', older, 0, TIMELINE_SEGMENTS - 1)
      current = nil
    end
  end
  redis.call('SET', head, current and (current .. '\30' .. entry) or entry)
end
