-- The whole effect of one inbound event on Redis, atomically and at most once.
--
-- KEYS[1]  dedup marker of the delivery         KEYS[2]  lead hash
-- KEYS[3]  lead timeline (see timeline.lua)      KEYS[4]  every lead (list, oldest first)
-- KEYS[5]  today's per-channel counters          KEYS[6]  sync outbox (stream)
-- KEYS[7]  tag registry (hash)
-- KEYS[8 .. 7+n]  one member set per tag in ARGV, same order
-- KEYS[8+n]       the channel's member set, present only when ARGV[5] is not empty
--
-- ARGV[1] dedup TTL (s)   ARGV[2] openid   ARGV[3] now (unix s)
-- ARGV[4] action: follow | scan | unfollow | location | touch
-- ARGV[5] scene, "" for none   ARGV[6] timeline entry, "" for none   ARGV[7] timeline cap
-- ARGV[8] last location, "" for none   ARGV[9] "1" when the caller needs the lead's tags
-- ARGV[10 ..] tag, source, tag, source, ...
--
-- Returns { 1 if applied or 0 if this delivery was already handled,
--           { the lead's tag names after it, when ARGV[9] asked for them } }
--
-- The lead hash is read once (HMGET) and written once (HSET): at thousands of events a second,
-- every command counts.

local lead = KEYS[2]
local want_tags = ARGV[9] == '1'

local function tags_of_lead()
  local out = {}
  if not want_tags then
    return out
  end
  for _, field in ipairs(redis.call('HKEYS', lead)) do
    if string.sub(field, 1, 2) == 't:' then
      out[#out + 1] = string.sub(field, 3)
    end
  end
  return out
end

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return { 0, tags_of_lead() }
end

local openid, now, action, scene = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ntags = (#ARGV - 9) / 2

local fields = { 'fs', 'fc', 'ch', 'sub' }
for i = 1, ntags do
  fields[#fields + 1] = 't:' .. ARGV[8 + 2 * i]
end
local known = redis.call('HMGET', lead, unpack(fields))
local first_seen, first_channel, channels, subscribed = known[1], known[2], known[3], known[4]

local set = { 'ls', now }
local function put(field, value)
  set[#set + 1] = field
  set[#set + 1] = value
end

local is_new = not first_seen
if is_new then
  put('fs', now)
  redis.call('RPUSH', KEYS[4], openid)
end

-- Subscription. Only a follower can message or click: someone first seen that way follows.
if action == 'follow' or action == 'scan' then
  put('sub', '1')
elseif action == 'unfollow' then
  put('sub', '0')
elseif not subscribed then
  put('sub', '1')
end

if action == 'location' then
  put('loc', ARGV[8])
end

-- Channels: the first one (fc) is kept for good; the later ones (ch) once each, in order.
if scene ~= '' then
  if not first_channel then
    put('fc', scene)
  elseif scene ~= first_channel then
    if not channels then
      put('ch', scene)
    elseif not string.find(' ' .. channels .. ' ', ' ' .. scene .. ' ', 1, true) then
      put('ch', channels .. ' ' .. scene)
    end
  end
  redis.call('SADD', KEYS[8 + ntags], openid)
elseif action == 'follow' and not first_channel then
  put('fc', '')
end

-- Tags: the first application of a tag is kept, with its time and source (the "why").
local added = 0
for i = 1, ntags do
  if not known[4 + i] then
    local tag = ARGV[8 + 2 * i]
    put('t:' .. tag, now .. ' ' .. ARGV[9 + 2 * i])
    added = added + 1
    redis.call('SADD', KEYS[7 + i], openid)
    redis.call('HSETNX', KEYS[7], tag, now)
  end
end

redis.call('HSET', lead, unpack(set))

-- The day's counters. Unfollows count against the first channel.
if action == 'follow' then
  redis.call('HINCRBY', KEYS[5], scene .. '|f', 1)
  if is_new then
    redis.call('HINCRBY', KEYS[5], scene .. '|n', 1)
  end
elseif action == 'scan' then
  redis.call('HINCRBY', KEYS[5], scene .. '|s', 1)
elseif action == 'unfollow' then
  redis.call('HINCRBY', KEYS[5], (first_channel or '') .. '|u', 1)
end

if ARGV[6] ~= '' then
  push_timeline(KEYS[3], ARGV[6], tonumber(ARGV[7]))
end

-- A re-follow queues a sync marked `refollow`: WeChat dropped the lead's tags on unfollow.
if action == 'follow' and subscribed == '0' then
  redis.call('XADD', KEYS[6], '*', 'o', openid, 'refollow', '1')
elseif added > 0 then
  redis.call('XADD', KEYS[6], '*', 'o', openid)
end

return { 1, tags_of_lead() }
