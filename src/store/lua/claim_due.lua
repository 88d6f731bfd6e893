-- Claims the leads due now for the rules over time: each claimed lead is pushed a lease ahead
-- in the due set, atomically, so no other process claims it until the lease passes (the
-- derived write then sets its real due time).
--
-- KEYS[1] the due leads (sorted set, scored by unix s)
-- ARGV[1] now (unix s)   ARGV[2] at most this many   ARGV[3] the lease (s)
--
-- Returns the claimed openids, most overdue first.

local claimed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
due_all(KEYS[1], nil, tonumber(ARGV[1]) + tonumber(ARGV[3]), claimed)
return claimed
