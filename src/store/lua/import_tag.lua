-- Imports a tag staff made in the WeChat console, with (some of) its members: the tag is
-- recorded as external with its WeChat id, and each member becomes a lead (if new) carrying
-- it, with the id recorded as applied in the lead's `w` field (and its version bumped when it
-- newly carries the tag).
--
-- KEYS[1] tag registry (hash)   KEYS[2] the tag's member set   KEYS[3] every lead (list)
-- KEYS[4] external tags (set)   KEYS[5] tag name -> WeChat id (hash)
-- KEYS[6 .. 5+n] the members' lead hashes, same order as ARGV[4 ..]
-- KEYS[6+n]       the changed leads (sorted set), marked for each lead that newly carries it
-- KEYS[7+n]       the set of leads last seen today (the last key)
--
-- ARGV[1] tag name   ARGV[2] WeChat tag id   ARGV[3] now (unix s)   ARGV[4 ..] openids
--
-- Returns how many leads newly carry the tag.

local name, id, now = ARGV[1], ARGV[2], ARGV[3]
local added = 0

-- True when the space-separated `w` holds the id, applied ("105") or in doubt ("?105").
local function holds(applied, wanted)
  for token in string.gmatch(applied, '%S+') do
    if token == wanted or token == '?' .. wanted then
      return true
    end
  end
  return false
end

redis.call('HSETNX', KEYS[1], name, now)
redis.call('SADD', KEYS[4], name)
redis.call('HSET', KEYS[5], name, id)

for i = 4, #ARGV do
  local openid, lead = ARGV[i], KEYS[i + 2]
  if redis.call('HSETNX', lead, F_FIRST_SEEN, now) == 1 then
    redis.call('HSET', lead, F_LAST_SEEN, now, F_SUBSCRIBED, '1')
    redis.call('SADD', KEYS[#KEYS], openid)
    redis.call('RPUSH', KEYS[3], openid)
  end
  if redis.call('HSETNX', lead, F_TAG_PREFIX .. name, now .. ' wechat') == 1 then
    added = added + 1
    redis.call('SADD', KEYS[2], openid)
    redis.call('HINCRBY', lead, F_VERSION, 1)
    mark_changed(KEYS[#KEYS - 1], openid)
  end
  local applied = redis.call('HGET', lead, F_ON_WECHAT) or ''
  if not holds(applied, id) then
    redis.call('HSET', lead, F_ON_WECHAT, (applied == '' and id) or (applied .. ' ' .. id))
  end
end
return added
