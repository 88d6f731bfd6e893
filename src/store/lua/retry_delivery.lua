-- Puts a dead letter back in its target's queue, due now, with a fresh retry horizon.
--
-- KEYS[1] the delivery's record (hash)   KEYS[2] its target's due set (sorted set)
-- ARGV[1] id   ARGV[2] now (unix s)
--
-- Returns 1 when requeued, 0 when the delivery is not a dead letter, -1 when it is unknown.

local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return -1
end
if state ~= 'dead' then
  return 0
end
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'pending', 'since', ARGV[2], 'next', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
