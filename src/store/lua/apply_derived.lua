-- The tags the rules over time derived for one lead, written only if the lead is still at the
-- version they were computed from: tags, their member sets and registry, timeline entries
-- (`tag+` / `tag-`), the outbox, the version, and when the lead is next due.
--
-- KEYS[1] lead hash   KEYS[2] timeline head   KEYS[3] older timeline segments
-- KEYS[4] sync outbox   KEYS[5] tag registry   KEYS[6] the due leads (sorted set)
-- KEYS[7 .. 6+a]      member sets of the tags to add, same order as ARGV
-- KEYS[7+a .. 6+a+r]  member sets of the tags to remove, same order as ARGV
-- KEYS[#KEYS-1]       the changed leads (sorted set), marked when a tag changed
-- KEYS[#KEYS]         the automation inbox (stream)
--
-- ARGV[1] openid   ARGV[2] the version read   ARGV[3] now (unix s)
-- ARGV[4] when the lead is next due (unix s), "" for never   ARGV[5] a (how many to add)
-- ARGV[6 .. #ARGV-1] a triples then r triples: tag, source, timeline entry
-- ARGV[#ARGV] what the changes fire for the automations (see fired.lua), "" for nothing
--
-- Returns 1 when written, 0 when the lead changed since (or is gone): nothing is written.

local lead = KEYS[1]
local version = redis.call('HGET', lead, F_VERSION)
if (tonumber(version) or 0) ~= tonumber(ARGV[2]) then
  return 0
end
if not version and redis.call('EXISTS', lead) == 0 then
  return 0
end

local openid, now = ARGV[1], ARGV[3]
local adds = tonumber(ARGV[5])
local removes = (#ARGV - 6) / 3 - adds
-- The hash's fields to write and the timeline's new entries, each written once at the end.
local set, entries = {}, {}

if adds > 0 then
  local fields = {}
  for i = 1, adds do
    fields[i] = F_TAG_PREFIX .. ARGV[3 + 3 * i]
  end
  local held = redis.call('HMGET', lead, unpack(fields))
  for i = 1, adds do
    if not held[i] then
      set[#set + 1] = fields[i]
      set[#set + 1] = now .. ' ' .. ARGV[4 + 3 * i]
      redis.call('SADD', KEYS[6 + i], openid)
      redis.call('HSETNX', KEYS[5], ARGV[3 + 3 * i], now)
      entries[#entries + 1] = ARGV[5 + 3 * i]
    end
  end
end
for i = 1, removes do
  local at = 3 * (adds + i)
  if redis.call('HDEL', lead, F_TAG_PREFIX .. ARGV[at + 3]) == 1 then
    redis.call('SREM', KEYS[6 + adds + i], openid)
    entries[#entries + 1] = ARGV[at + 5]
  end
end

if #entries > 0 then
  set[#set + 1] = F_VERSION
  set[#set + 1] = tonumber(ARGV[2]) + 1
  redis.call('HSET', lead, unpack(set))
  push_timeline(KEYS[2], KEYS[3], table.concat(entries, '\30'))
  redis.call('XADD', KEYS[4], '*', 'o', openid)
  mark_changed(KEYS[#KEYS - 1], openid)
end
if ARGV[#ARGV] ~= '' then
  record_fired(KEYS[#KEYS], openid, now, { ARGV[#ARGV] })
end
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[6], openid)
else
  redis.call('ZADD', KEYS[6], ARGV[4], openid)
end
return 1
