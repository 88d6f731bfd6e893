-- Sales' own tag edits on one lead, atomically: add and remove, index, timeline, outbox, and
-- the lead's version when anything changed.
--
-- KEYS[1] lead hash   KEYS[2] timeline head   KEYS[3] older timeline segments
-- KEYS[4] sync outbox   KEYS[5] tag registry
-- KEYS[6 .. 5+a]      member sets of the tags to add, same order as ARGV
-- KEYS[6+a .. 5+a+r]  member sets of the tags to remove, same order as ARGV
-- KEYS[#KEYS-1]       the changed leads (sorted set), marked when a tag changed
-- KEYS[#KEYS]         the automation inbox (stream)
--
-- ARGV[1] openid   ARGV[2] now   ARGV[3] source   ARGV[4] timeline entry
-- ARGV[5] a (how many to add)   ARGV[6 .. 5+a] tags to add   ARGV[6+a .. #ARGV-1] tags to
-- remove   ARGV[#ARGV] one byte per tag, "1" when an automation starts on its change
--
-- Returns nil when the lead does not exist, else the number of tags actually changed.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end

local openid, now, source = ARGV[1], ARGV[2], ARGV[3]
local adds = tonumber(ARGV[5])
local removes = #ARGV - 6 - adds
local changed = 0
local watched, fired = ARGV[#ARGV], {}
local WATCHED = string.byte('1')

for i = 1, adds do
  local tag = ARGV[5 + i]
  if redis.call('HSETNX', KEYS[1], F_TAG_PREFIX .. tag, now .. ' ' .. source) == 1 then
    changed = changed + 1
    redis.call('SADD', KEYS[5 + i], openid)
    redis.call('HSETNX', KEYS[5], tag, now)
    if string.byte(watched, i) == WATCHED then
      fired[#fired + 1] = 'a\31' .. tag
    end
  end
end
for i = 1, removes do
  local tag = ARGV[5 + adds + i]
  if redis.call('HDEL', KEYS[1], F_TAG_PREFIX .. tag) == 1 then
    changed = changed + 1
    redis.call('SREM', KEYS[5 + adds + i], openid)
    if string.byte(watched, adds + i) == WATCHED then
      fired[#fired + 1] = 'r\31' .. tag
    end
  end
end

if changed > 0 then
  redis.call('HINCRBY', KEYS[1], F_VERSION, 1)
  push_timeline(KEYS[2], KEYS[3], ARGV[4])
  redis.call('XADD', KEYS[4], '*', 'o', openid)
  mark_changed(KEYS[#KEYS - 1], openid)
  record_fired(KEYS[#KEYS], openid, now, fired)
end
return changed
