-- Shared by the scripts that write timelines (prepended to them when they are built, after
-- the generated preamble that defines TIMELINE_SEGMENT and TIMELINE_SEGMENTS).
--
-- A lead's timeline is a short head string of its newest entries, oldest first, separated by
-- \30 (ASCII record separator, which entries never contain); and a list of older segments
-- (former heads), newest first. When the head holds TIMELINE_SEGMENT entries it becomes the
-- newest older segment, and the list keeps TIMELINE_SEGMENTS of them. An event so costs the
-- same however long the timeline is: the head (at most TIMELINE_SEGMENT entries) is read and
-- written again with the new entry, and every TIMELINE_SEGMENT-th event makes one bounded
-- move. The head is written whole with SET rather than grown with APPEND: APPEND leaves the
-- string with as much free room again as it holds, which would double a small lead's
-- timeline in memory. The caller keeps the head's entry count in the lead hash (field
-- F_TIMELINE_HEAD), which it reads and writes anyway.
--
-- Returns the head's entry count after the push.
local function push_timeline(head, older, count, entry)
  if count >= TIMELINE_SEGMENT then
    local full = redis.call('GET', head)
    if full then
      redis.call('LPUSH', older, full)
      redis.call('LTRIM', older, 0, TIMELINE_SEGMENTS - 1)
    end
    count = 0
  end
  local current = count > 0 and redis.call('GET', head)
  if current then
    redis.call('SET', head, current .. '\30' .. entry)
  else
    redis.call('SET', head, entry)
  end
  return count + 1
end
