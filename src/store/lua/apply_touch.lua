-- The whole effect of one touch on Redis, atomically and at most once.
--
-- KEYS[1]  dedup marker of the delivery         KEYS[2]  lead hash
-- KEYS[3]  timeline head      KEYS[4]  older timeline segments (see timeline.lua)
-- KEYS[5]  every lead (list, oldest first)      KEYS[6]  today's per-channel counters
-- KEYS[7]  sync outbox (stream)                 KEYS[8]  tag registry (hash)
-- KEYS[9]  the replay guard's hash of the signed query, present only when ARGV[9] is not empty
-- KEYS[g+1 .. g+n]  one member set per tag in ARGV, same order (g is 9 with the guard, else 8)
-- KEYS[g+n+1]       the channel's member set, present only when ARGV[5] is not empty
--
-- ARGV[1] dedup TTL (s)   ARGV[2] openid   ARGV[3] now (unix s)
-- ARGV[4] effect: follow | scan | unfollow | location | other
-- ARGV[5] scene, "" for none   ARGV[6] timeline entry, "" for none
-- ARGV[7] last location, "" for none   ARGV[8] "1" when the caller needs the lead's tags
-- ARGV[9] for a body no signature covers: the signed query's field (12 bytes) then the body's
--         digest (8 bytes); "" for none
-- ARGV[10] when the guard's hash expires (unix s)
-- ARGV[11 ..] tag, source, tag, source, ...
--
-- Returns { 1 if applied, 0 if this delivery was already handled, or -1 if the signed query
--           was seen with another body (nothing is written),
--           { the lead's tag names after it, when ARGV[8] asked for them } }
--
-- The lead hash is read once (HMGET) and written once (HSET): at thousands of events a second,
-- every command counts.

local lead = KEYS[2]
local want_tags = ARGV[8] == '1'
local guard = ARGV[9]
local g = guard ~= '' and 9 or 8

local function tags_of_lead()
  local out = {}
  if not want_tags then
    return out
  end
  local prefix = #F_TAG_PREFIX
  for _, field in ipairs(redis.call('HKEYS', lead)) do
    if string.sub(field, 1, prefix) == F_TAG_PREFIX then
      out[#out + 1] = string.sub(field, prefix + 1)
    end
  end
  return out
end

-- A plaintext body is covered by no signature: its signed query vouches for one body only.
if guard ~= '' then
  local query, digest = string.sub(guard, 1, 12), string.sub(guard, 13)
  local seen = redis.call('HGET', KEYS[9], query)
  if seen and seen ~= digest then
    return { -1, {} }
  end
  if not seen then
    redis.call('HSET', KEYS[9], query, digest)
    redis.call('EXPIREAT', KEYS[9], tonumber(ARGV[10]), 'NX')
  end
end

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return { 0, tags_of_lead() }
end

local openid, now, effect, scene = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ntags = (#ARGV - 10) / 2

local fields = { F_FIRST_SEEN, F_FIRST_CHANNEL, F_CHANNELS, F_SUBSCRIBED }
for i = 1, ntags do
  fields[#fields + 1] = F_TAG_PREFIX .. ARGV[9 + 2 * i]
end
local known = redis.call('HMGET', lead, unpack(fields))
local first_seen, first_channel, channels, subscribed = known[1], known[2], known[3], known[4]

local set = { F_LAST_SEEN, now }
local function put(field, value)
  set[#set + 1] = field
  set[#set + 1] = value
end

local is_new = not first_seen
if is_new then
  put(F_FIRST_SEEN, now)
  redis.call('RPUSH', KEYS[5], openid)
end

-- Subscription. Only a follower can message or click: someone first seen that way follows.
if effect == 'follow' or effect == 'scan' then
  put(F_SUBSCRIBED, '1')
elseif effect == 'unfollow' then
  put(F_SUBSCRIBED, '0')
elseif not subscribed then
  put(F_SUBSCRIBED, '1')
end

if effect == 'location' then
  put(F_LOCATION, ARGV[7])
end

-- Channels: the first one is kept for good; the later ones once each, in order.
if scene ~= '' then
  if not first_channel then
    put(F_FIRST_CHANNEL, scene)
  elseif scene ~= first_channel then
    if not channels then
      put(F_CHANNELS, scene)
    elseif not string.find(' ' .. channels .. ' ', ' ' .. scene .. ' ', 1, true) then
      put(F_CHANNELS, channels .. ' ' .. scene)
    end
  end
  redis.call('SADD', KEYS[g + ntags + 1], openid)
elseif effect == 'follow' and not first_channel then
  put(F_FIRST_CHANNEL, '')
end

-- Tags: the first application of a tag is kept, with its time and source (the "why").
local added = 0
for i = 1, ntags do
  if not known[4 + i] then
    local tag = ARGV[9 + 2 * i]
    put(F_TAG_PREFIX .. tag, now .. ' ' .. ARGV[10 + 2 * i])
    added = added + 1
    redis.call('SADD', KEYS[g + i], openid)
    redis.call('HSETNX', KEYS[8], tag, now)
  end
end

if ARGV[6] ~= '' then
  push_timeline(KEYS[3], KEYS[4], ARGV[6])
end

redis.call('HSET', lead, unpack(set))

-- The day's counters. Unfollows count against the first channel.
if effect == 'follow' then
  redis.call('HINCRBY', KEYS[6], scene .. '|f', 1)
  if is_new then
    redis.call('HINCRBY', KEYS[6], scene .. '|n', 1)
  end
elseif effect == 'scan' then
  redis.call('HINCRBY', KEYS[6], scene .. '|s', 1)
elseif effect == 'unfollow' then
  redis.call('HINCRBY', KEYS[6], (first_channel or '') .. '|u', 1)
end

-- A sync is queued when tags were added, and when a lead that had unfollowed follows again
-- with tags: WeChat dropped its tags on the unfollow and refused what changed meanwhile, so
-- the entry is marked `refollow` and the worker pushes the whole projection again.
local function has_tags()
  for _, field in ipairs(redis.call('HKEYS', lead)) do
    if string.sub(field, 1, #F_TAG_PREFIX) == F_TAG_PREFIX then
      return true
    end
  end
  return false
end
local refollow = (effect == 'follow' or effect == 'scan') and subscribed == '0'
if refollow and (added > 0 or has_tags()) then
  redis.call('XADD', KEYS[7], '*', 'o', openid, 'refollow', '1')
elseif added > 0 then
  redis.call('XADD', KEYS[7], '*', 'o', openid)
end

return { 1, tags_of_lead() }
