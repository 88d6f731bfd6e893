-- Moves an automation run on from the step it is at, once: the step's outcome on the lead's
-- timeline, then the next step due at a time, or the run ended.
--
-- KEYS[1] the run (hash)   KEYS[2] the runs due (sorted set)
-- KEYS[3] the lead hash   KEYS[4] timeline head   KEYS[5] older timeline segments
-- ARGV[1] run id   ARGV[2] the step it must be at   ARGV[3] the step it moves to
-- ARGV[4] when that step is due (unix s); "" ends the run   ARGV[5] the state it ends in
-- ARGV[6] the timeline entry, "" for none   ARGV[7] how long an ended run is kept (s), ""
--         for good (a run that must never start again)   ARGV[8] now (unix s)
--
-- Returns 1 when moved, 0 when the run was not at that step (another process moved it).

if redis.call('HGET', KEYS[1], 's') ~= ARGV[2] then
  return 0
end
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 's', ARGV[3], 'st', ARGV[5], 'end', ARGV[8])
  redis.call('HDEL', KEYS[1], 'n')
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[7] ~= '' then
    redis.call('EXPIRE', KEYS[1], ARGV[7])
  end
else
  redis.call('HSET', KEYS[1], 's', ARGV[3], 'n', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  push_timeline(KEYS[4], KEYS[5], ARGV[6])
end
return 1
