-- An event from another system for a lead wxtag may not know yet: says whom to apply it to
-- when the lead is known, else keeps (parks) it until the lead appears, at most once per id.
--
-- KEYS[1] the event's dedup marker as applied   KEYS[2] its marker as parked
-- KEYS[3] for an openid: the lead hash; for an external id: the external ids (hash)
-- KEYS[4] the parked events of this openid or external id (list)
-- KEYS[5] the openids with parked events (sorted set), used for an openid only
--
-- ARGV[1] 'o' (an openid) or 'x' (an external id)   ARGV[2] the openid or external id
-- ARGV[3] the event as parked (JSON)   ARGV[4] how long it is kept (s)
-- ARGV[5] how many a lead's list keeps (the newest)   ARGV[6] now (unix s)
--
-- Returns { 'dup' } for an event applied or parked before, { 'known', openid } for a lead
-- wxtag knows (the caller applies the event), or { 'parked' }.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return { 'dup' }
end
local by_openid = ARGV[1] == 'o'
if by_openid then
  if redis.call('EXISTS', KEYS[3]) == 1 then
    return { 'known', ARGV[2] }
  end
else
  local openid = redis.call('HGET', KEYS[3], ARGV[2])
  if openid then
    return { 'known', openid }
  end
end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[4]) then
  return { 'dup' }
end
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
redis.call('EXPIRE', KEYS[4], ARGV[4])
if by_openid then
  -- Checked at the scheduler's next pass: the lead may be arriving right now.
  redis.call('ZADD', KEYS[5], 'NX', ARGV[6], ARGV[2])
end
return { 'parked' }
