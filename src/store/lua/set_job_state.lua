-- Ends a bulk job, only while it is running: a cancel never overwrites "done", and the last
-- step of a job already cancelled never marks it done.
--
-- KEYS[1] the job's hash   ARGV[1] its new state   ARGV[2] why, "" for nothing to say
-- ARGV[3] how long the ended job is kept (s)
--
-- Returns 1 when the state changed, 0 when the job was not running (or does not exist).

if redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'error', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
