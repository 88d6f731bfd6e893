-- Records what WeChat holds of leads' tags (their `w` field), each only while the writer holds
-- the lead's sync lease: a worker that lost a lease can never overwrite what the new holder
-- records. At the end of a push it frees the leases in the same call.
--
-- KEYS[2i-1] a lead hash   KEYS[2i] that lead's sync lease (see lease.lua)
-- ARGV[1] the lease owner   ARGV[2] "free" to let go of the leases held, "keep" otherwise
-- ARGV[2+i] the lead's new `w`, for the first #ARGV - 2 leads; the leads after them are only
-- freed
--
-- Returns one 1 or 0 per lead: whether the owner held its lease (0: someone else's, or gone;
-- then nothing was written or freed).

local owner, free = ARGV[1], ARGV[2] == 'free'
local writes = #ARGV - 2
local out = {}
for i = 1, #KEYS / 2 do
  local lease = KEYS[2 * i]
  if redis.call('GET', lease) == owner then
    if i <= writes then
      redis.call('HSET', KEYS[2 * i - 1], F_ON_WECHAT, ARGV[2 + i])
    end
    if free then
      redis.call('DEL', lease)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
