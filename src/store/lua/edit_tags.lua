-- Sales' own tag edits on one lead, atomically: add and remove, index, timeline, outbox.
--
-- KEYS[1] lead hash   KEYS[2] lead timeline   KEYS[3] sync outbox   KEYS[4] tag registry
-- KEYS[5 .. 4+a]      member sets of the tags to add, same order as ARGV
-- KEYS[5+a .. 4+a+r]  member sets of the tags to remove, same order as ARGV
--
-- ARGV[1] openid   ARGV[2] now   ARGV[3] source   ARGV[4] timeline entry   ARGV[5] timeline cap
-- ARGV[6] a (how many to add)   ARGV[7 .. 6+a] tags to add   ARGV[7+a ..] tags to remove
--
-- Returns nil when the lead does not exist, else the number of tags actually changed.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end

local openid, now, source = ARGV[1], ARGV[2], ARGV[3]
local adds = tonumber(ARGV[6])
local removes = #ARGV - 6 - adds
local changed = 0

for i = 1, adds do
  local tag = ARGV[6 + i]
  if redis.call('HSETNX', KEYS[1], 't:' .. tag, now .. ' ' .. source) == 1 then
    changed = changed + 1
    redis.call('SADD', KEYS[4 + i], openid)
    redis.call('HSETNX', KEYS[4], tag, now)
  end
end
for i = 1, removes do
  local tag = ARGV[6 + adds + i]
  if redis.call('HDEL', KEYS[1], 't:' .. tag) == 1 then
    changed = changed + 1
    redis.call('SREM', KEYS[4 + adds + i], openid)
  end
end

if changed > 0 then
  push_timeline(KEYS[2], ARGV[4], tonumber(ARGV[5]))
  redis.call('XADD', KEYS[3], '*', 'o', openid)
end
return changed
