-- Removes a named credential: its token stops working at once, and so do the dashboard
-- sessions it opened (they name the token's digest, which no longer resolves).
--
-- KEYS[1] the credentials hash   KEYS[2] the names hash   KEYS[3] the last-used hash
-- ARGV[1] the name
--
-- Returns 1 when a credential was removed, 0 when none had that name.

local digest = redis.call('HGET', KEYS[2], ARGV[1])
if not digest then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], digest)
redis.call('HDEL', KEYS[3], digest)
return 1
