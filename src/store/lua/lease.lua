-- Leases: a key held by one owner for a while, taken, renewed or freed only by that owner.
-- The sync worker's per-lead leases and the token refresh lock both use it.
--
-- KEYS[1 ..] the lease keys
-- ARGV[1] owner   ARGV[2] lifetime (ms)   ARGV[3] take | renew | free
--
-- Returns one 1 or 0 per key: whether the owner holds the lease after the call (for free:
-- whether it held it and let go).

local owner, ttl, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == owner then
    if mode == 'free' then
      redis.call('DEL', key)
    else
      redis.call('PEXPIRE', key, ttl)
    end
    out[i] = 1
  elseif mode == 'take' and not holder then
    redis.call('SET', key, owner, 'PX', ttl)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
