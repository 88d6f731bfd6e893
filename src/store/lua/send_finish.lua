-- Records how a send attempt ended, with its timeline entry and, after 43019, the lead's
-- blacklist mark (later sends skip it without a call).
--
-- KEYS[1] the attempt's record   KEYS[2] lead hash   KEYS[3] timeline head
-- KEYS[4] older timeline segments   KEYS[5] the changed leads (sorted set)
-- ARGV[1] the record   ARGV[2] how long it is kept (s)   ARGV[3] the timeline entry, `` for
-- none   ARGV[4] the blacklist mark (`<at> <source>`), `` for none   ARGV[5] the openid
--
-- Returns 1, or 0 when the lead is not known (only the record is written).

redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if ARGV[3] ~= '' then
  push_timeline(KEYS[3], KEYS[4], ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], F_BLACKLISTED, ARGV[4])
  redis.call('HINCRBY', KEYS[2], F_VERSION, 1)
  mark_changed(KEYS[5], ARGV[5])
end
return 1
