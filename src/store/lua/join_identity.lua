-- Joins an external id (a CRM's) to a lead: one lead per external id, one external id per
-- lead.
--
-- KEYS[1] lead hash   KEYS[2] external id → openid (hash)   KEYS[3] timeline head
-- KEYS[4] older timeline segments   KEYS[5] the changed leads (sorted set)
-- ARGV[1] openid   ARGV[2] external id   ARGV[3] the timeline entry
--
-- Returns { 0 } for an unknown lead, { 1 } when joined now, { 2 } when it was joined
-- already, { -1, openid } when another lead holds the id, { -2, id } when the lead holds
-- another id. Only a join writes.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
local openid, external = ARGV[1], ARGV[2]
local owner = redis.call('HGET', KEYS[2], external)
if owner == openid then
  return { 2 }
elseif owner then
  return { -1, owner }
end
local held = redis.call('HGET', KEYS[1], F_EXTERNAL_ID)
if held and held ~= external then
  return { -2, held }
end
redis.call('HSET', KEYS[2], external, openid)
redis.call('HSET', KEYS[1], F_EXTERNAL_ID, external)
redis.call('HINCRBY', KEYS[1], F_VERSION, 1)
push_timeline(KEYS[3], KEYS[4], ARGV[3])
mark_changed(KEYS[5], openid)
return { 1 }
