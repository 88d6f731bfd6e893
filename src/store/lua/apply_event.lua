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
-- ARGV[8] last location, "" for none
-- ARGV[9 ..] tag, source, tag, source, ...
--
-- Returns { 1 if applied or 0 if this delivery was already handled, { tag names after it } }

local lead = KEYS[2]

local function tags_of_lead()
  local out = {}
  local fields = redis.call('HKEYS', lead)
  for _, field in ipairs(fields) do
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
local ntags = (#ARGV - 8) / 2

local is_new = redis.call('HSETNX', lead, 'fs', now) == 1
if is_new then
  redis.call('RPUSH', KEYS[4], openid)
end

if action == 'location' then
  redis.call('HSET', lead, 'ls', now, 'loc', ARGV[8])
elseif action == 'follow' or action == 'scan' then
  redis.call('HSET', lead, 'ls', now, 'sub', '1')
elseif action == 'unfollow' then
  redis.call('HSET', lead, 'ls', now, 'sub', '0')
else
  redis.call('HSET', lead, 'ls', now)
  -- Only a follower can message or click: someone first seen this way follows already.
  redis.call('HSETNX', lead, 'sub', '1')
end

-- Channels: the first one is kept for good, every one is kept once, in order.
if scene ~= '' then
  redis.call('HSETNX', lead, 'fc', scene)
  local channels = redis.call('HGET', lead, 'ch')
  if not channels then
    redis.call('HSET', lead, 'ch', scene)
  elseif not string.find(' ' .. channels .. ' ', ' ' .. scene .. ' ', 1, true) then
    redis.call('HSET', lead, 'ch', channels .. ' ' .. scene)
  end
  redis.call('SADD', KEYS[8 + ntags], openid)
elseif action == 'follow' then
  redis.call('HSETNX', lead, 'fc', '')
end

-- The day's counters. Unfollows count against the first channel.
if action == 'follow' then
  redis.call('HINCRBY', KEYS[5], scene .. '|f', 1)
  if is_new then
    redis.call('HINCRBY', KEYS[5], scene .. '|n', 1)
  end
elseif action == 'scan' then
  redis.call('HINCRBY', KEYS[5], scene .. '|s', 1)
elseif action == 'unfollow' then
  local first = redis.call('HGET', lead, 'fc') or ''
  redis.call('HINCRBY', KEYS[5], first .. '|u', 1)
end

if ARGV[6] ~= '' then
  push_timeline(KEYS[3], ARGV[6], tonumber(ARGV[7]))
end

-- Tags: the first application of a tag is kept, with its time and source (the "why").
local added = 0
for i = 1, ntags do
  local tag, source = ARGV[7 + 2 * i], ARGV[8 + 2 * i]
  if redis.call('HSETNX', lead, 't:' .. tag, now .. ' ' .. source) == 1 then
    added = added + 1
    redis.call('SADD', KEYS[7 + i], openid)
    redis.call('HSETNX', KEYS[7], tag, now)
  end
end
if added > 0 then
  redis.call('XADD', KEYS[6], '*', 'o', openid)
end

return { 1, tags_of_lead() }
