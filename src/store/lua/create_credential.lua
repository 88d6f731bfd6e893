-- Adds a named credential, unless the name is taken.
--
-- KEYS[1] the credentials hash (digest → JSON)   KEYS[2] the names hash (name → digest)
-- ARGV[1] the token's digest   ARGV[2] the name   ARGV[3] the credential's JSON
--
-- Returns 1 when added, 0 when a credential of that name exists.

if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
