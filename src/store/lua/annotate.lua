-- A note on a lead that exists, touching nothing else: a timeline entry (a forward of the
-- lead's link, seen on the sender's timeline), profile fields (the unionid), or both.
--
-- KEYS[1] lead hash   KEYS[2] timeline head   KEYS[3] older timeline segments
-- ARGV[1] the timeline entry, or '' for none   ARGV[2 ..] field, value, field, value, …
--
-- Returns 0 when the lead does not exist (nothing written), else 1. Fields bump the lead's
-- version (they change the lead); a timeline entry alone does not.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[1] ~= '' then
  push_timeline(KEYS[2], KEYS[3], ARGV[1])
end
if #ARGV > 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  redis.call('HINCRBY', KEYS[1], F_VERSION, 1)
end
return 1
