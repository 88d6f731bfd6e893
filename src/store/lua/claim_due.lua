-- Claims the leads due now for the rules over time: each claimed lead is pushed a lease ahead
-- in the due set, atomically, so no other process claims it until the lease passes (the
-- derived write then sets its real due time).
--
-- KEYS[1] the due leads (sorted set, scored by unix s)
-- ARGV[1] now (unix s)   ARGV[2] at most this many   ARGV[3] the lease (s)
--
-- Returns the claimed openids, most overdue first.

local claimed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local until_ = tonumber(ARGV[1]) + tonumber(ARGV[3])
-- One ZADD per few hundred members keeps Lua's stack bounded however big the batch.
local batch = {}
for i, openid in ipairs(claimed) do
  batch[#batch + 1] = until_
  batch[#batch + 1] = openid
  if #batch >= 512 or i == #claimed then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
return claimed
