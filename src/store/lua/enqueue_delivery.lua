-- Enqueues a sales alert's delivery once: a delivery id already known changes nothing, so
-- the caller may enqueue again after a crash (at least once, with one delivery id).
--
-- KEYS[1] the delivery's record (hash)   KEYS[2] its target's due set (sorted set)
-- KEYS[3] the newest deliveries (sorted set)   KEYS[4] the targets that had deliveries (set)
-- ARGV[1] id   ARGV[2] target   ARGV[3] event   ARGV[4] detail   ARGV[5] openid
-- ARGV[6] now (unix s)   ARGV[7] how many deliveries the list keeps
--
-- Returns 1 when enqueued, 0 when the id was known.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local id, now = ARGV[1], ARGV[6]
redis.call('HSET', KEYS[1], 'target', ARGV[2], 'event', ARGV[3], 'detail', ARGV[4],
  'openid', ARGV[5], 'created', now, 'since', now, 'state', 'pending', 'attempts', 0,
  'next', now)
redis.call('ZADD', KEYS[2], now, id)
redis.call('ZADD', KEYS[3], now, id)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[7]) - 1)
redis.call('SADD', KEYS[4], ARGV[2])
return 1
