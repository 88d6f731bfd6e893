-- Starts an automation run unless a run with its id exists: a run id names at most one run
-- (an automation a lead runs once has one id per lead), so what fired twice starts one.
--
-- KEYS[1] the run (hash)   KEYS[2] the runs due (sorted set)
-- KEYS[3] the lead hash   KEYS[4] timeline head   KEYS[5] older timeline segments
-- ARGV[1] run id   ARGV[2] automation   ARGV[3] openid   ARGV[4] what fired it (described)
-- ARGV[5] now (unix s)   ARGV[6] the timeline entry of the start
--
-- Returns 1 when the run started, 0 when it existed.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'o', ARGV[3], 't', ARGV[4], 's', 0, 'st', 'running',
  'at', ARGV[5], 'n', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  push_timeline(KEYS[4], KEYS[5], ARGV[6])
end
return 1
