-- Records what WeChat holds of leads' tags (their `w` field), each only while the writer holds
-- the lead's sync lease: a worker that lost a lease can never overwrite what the new holder
-- records.
--
-- KEYS[2i-1] a lead hash   KEYS[2i] that lead's sync lease (see lease.lua)
-- ARGV[1] the lease owner  ARGV[1+i] the lead's new `w`
--
-- Returns one 1 or 0 per lead: whether `w` was written (0: the lease is someone else's, or gone).

local owner = ARGV[1]
local out = {}
for i = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * i]) == owner then
    redis.call('HSET', KEYS[2 * i - 1], F_ON_WECHAT, ARGV[1 + i])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
