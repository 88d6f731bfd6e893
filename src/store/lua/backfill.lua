-- One step of the backfill: after the derived sections changed (a new fingerprint), every
-- lead is made due once, a chunk per step, at most one step per pace across every process.
--
-- KEYS[1] the backfill job (hash: fp, cur, next, done)   KEYS[2] every lead (list)
-- KEYS[3] the due leads (sorted set)
-- KEYS[4] the leads made due by the backfill and not derived since (set): what their next
--         derive changes fires no automation (a rule added on reload never does)
-- ARGV[1] the derived sections' fingerprint   ARGV[2] chunk   ARGV[3] pace (s)   ARGV[4] now
--
-- Returns { 0, n }: n leads made due, more may remain; { 1, 0 }: not yet (a step was taken
-- less than the pace ago); { 2, 0 }: done for this fingerprint.

local job = KEYS[1]
local fingerprint, chunk, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local state = redis.call('HMGET', job, 'fp', 'cur', 'next', 'done')
local cursor, next_step = tonumber(state[2]) or 0, tonumber(state[3]) or 0
if state[1] ~= fingerprint then
  redis.call('HSET', job, 'fp', fingerprint, 'cur', 0, 'next', 0, 'done', 0)
  cursor, next_step = 0, 0
elseif state[4] == '1' then
  return { 2, 0 }
end
if now < next_step then
  return { 1, 0 }
end

local openids = redis.call('LRANGE', KEYS[2], cursor, cursor + chunk - 1)
if #openids == 0 then
  redis.call('HSET', job, 'done', 1)
  return { 2, 0 }
end
due_all(KEYS[3], 'LT', now, openids)
redis.call('SADD', KEYS[4], unpack(openids))
redis.call('HSET', job, 'cur', cursor + #openids, 'next', now + tonumber(ARGV[3]),
  'done', #openids < chunk and 1 or 0)
return { 0, #openids }
