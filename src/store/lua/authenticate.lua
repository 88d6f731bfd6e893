-- Finds a named credential by the SHA-256 of its token, and notes when it was used.
--
-- KEYS[1] the credentials hash (digest → JSON)   KEYS[2] the last-used hash (digest → time)
-- ARGV[1] the token's digest   ARGV[2] now (unix seconds)
--
-- Returns the credential's JSON, or nil for an unknown or revoked token.

local found = redis.call('HGET', KEYS[1], ARGV[1])
if found then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return found
