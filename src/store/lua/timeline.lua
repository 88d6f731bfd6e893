-- Shared by the scripts that write timelines (prepended to them when they are built, after
-- the generated preamble that defines TIMELINE_SEGMENT and TIMELINE_SEGMENTS).
--
-- A lead's timeline is a short head string of its newest entries, oldest first, separated by
-- \30 (ASCII record separator, which entries never contain), appended to with APPEND; and a
-- list of older segments (former heads), newest first. When the head holds TIMELINE_SEGMENT
-- entries it becomes the newest older segment, and the list keeps TIMELINE_SEGMENTS of them.
-- An event so costs the same however long the timeline is: one APPEND, and every
-- TIMELINE_SEGMENT-th event one bounded move. The caller keeps the head's entry count in the
-- lead hash (field F_TIMELINE_HEAD), which it reads and writes anyway.
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
  if count == 0 then
    redis.call('SET', head, entry)
  else
    redis.call('APPEND', head, '\30' .. entry)
  end
  return count + 1
end
