-- Records one attempt of a delivery, only if no other process recorded it first (the
-- attempt count is still the one read at the claim): delivered, retrying at a time, or dead.
--
-- KEYS[1] the delivery's record (hash)   KEYS[2] its target's due set (sorted set)
-- ARGV[1] id   ARGV[2] the attempts read at the claim   ARGV[3] delivered | retrying | dead
-- ARGV[4] now (unix s)   ARGV[5] the next try (unix s, for retrying)   ARGV[6] the error
-- ARGV[7] how long an ended record is kept (s)
--
-- Returns 1 when recorded, 0 when another process had recorded this attempt (or the record
-- is gone).

local attempts = redis.call('HGET', KEYS[1], 'attempts')
if attempts ~= ARGV[2] then
  return 0
end
local id, state, now = ARGV[1], ARGV[3], ARGV[4]
redis.call('HSET', KEYS[1], 'attempts', tonumber(attempts) + 1, 'state', state, 'last', now,
  'error', ARGV[6])
if state == 'retrying' then
  redis.call('HSET', KEYS[1], 'next', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], id)
else
  redis.call('HSET', KEYS[1], 'next', '')
  redis.call('ZREM', KEYS[2], id)
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
return 1
