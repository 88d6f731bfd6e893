-- Sets or clears a lead's do-not-contact mark, with a timeline entry.
--
-- KEYS[1] lead hash   KEYS[2] timeline head   KEYS[3] older timeline segments
-- KEYS[4] the changed leads (sorted set)
-- ARGV[1] the mark (`<at> <source>`), `` to clear it   ARGV[2] the timeline entry
-- ARGV[3] the openid
--
-- Returns -1 for a lead wxtag does not know (nothing written), 0 when nothing changed (a
-- clear of a lead without the mark), else 1.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if ARGV[1] == '' then
  if redis.call('HDEL', KEYS[1], F_DO_NOT_CONTACT) == 0 then
    return 0
  end
else
  redis.call('HSET', KEYS[1], F_DO_NOT_CONTACT, ARGV[1])
end
redis.call('HINCRBY', KEYS[1], F_VERSION, 1)
push_timeline(KEYS[2], KEYS[3], ARGV[2])
mark_changed(KEYS[4], ARGV[3])
return 1
