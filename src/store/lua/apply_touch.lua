-- The whole effect of one touch on Redis, atomically and at most once.
--
-- KEYS[1]  dedup marker of the delivery         KEYS[2]  lead hash
-- KEYS[3]  timeline head      KEYS[4]  older timeline segments (see timeline.lua)
-- KEYS[5]  every lead (list, oldest first)      KEYS[6]  today's per-channel counters
-- KEYS[7]  sync outbox (stream)                 KEYS[8]  tag registry (hash)
-- KEYS[9]  the lead's touch history (hash)      KEYS[10] the due leads (sorted set)
-- KEYS[11] the replay guard's hash of the signed query, present only when ARGV[9] is not empty
-- KEYS[g+1 .. g+n]  one member set per tag in ARGV, same order (g is 11 with the guard, else 10)
-- KEYS[g+n+1]       the channel's member set, present only when ARGV[5] is not empty
-- KEYS[d+1 .. d+a+r] the member sets of the derived tags to add, then to remove (d is the last
--                   key before them)
-- KEYS[#KEYS-4]     the openids with parked events (sorted set by when next checked)
-- KEYS[#KEYS-3]     the lead's stored events (sorted set by `at`)
-- KEYS[#KEYS-2]     the changed leads (sorted set: openid → when last changed, µs)
-- KEYS[#KEYS-1]     the set of leads last seen on the touch's day
-- KEYS[#KEYS]       the automation inbox (stream; the last key)
--
-- ARGV[1] dedup TTL (s)   ARGV[2] openid   ARGV[3] now (unix s)
-- ARGV[4] effect: follow | scan | unfollow | location | other | outside | system
-- ARGV[5] scene, "" for none   ARGV[6] timeline entry, "" for none
-- ARGV[7] last location, "" for none   ARGV[8] "1" when the caller needs the lead's tags
-- ARGV[9] for a body no signature covers: the signed query's field (12 bytes) then the body's
--         digest (8 bytes); "" for none
-- ARGV[10] when the guard's hash expires (unix s)
-- ARGV[11] days of touch history to keep
-- ARGV[12] when the caller derives tags from the lead's state: when the lead is due for the
--          scheduler if the derived write does not land (unix s); "" otherwise
-- ARGV[13] for the rules over time's changes written with the touch: the lead's version they
--          were computed from ("-" for a lead not yet known); "" for none
-- ARGV[14] with them, when the lead is next due for the scheduler (unix s), "" for never
-- ARGV[15] a, derived tags to add   ARGV[16] r, derived tags to remove
-- ARGV[17] one byte per tag the touch adds, then per derived tag to add: "1" when the caller
--          knows it is in the tag registry already, "0" when it must be registered
-- ARGV[18] h, how many touch keys this touch counts as
-- ARGV[19] a custom event's record to store (JSON, unique per event), "" for none
-- ARGV[20] how many stored events a lead keeps at most
-- ARGV[21] the customer-service window the touch opens: "m" a user message (5 in 48 h),
--          "i" a follow, scan or click (3 in 1 minute), "" none
-- ARGV[22] the source of a do-not-contact request the touch makes (a keyword rule's), ""
--          for none
-- ARGV[23] what this touch and its derived changes fire for the automations, beyond the
--          touch's own tags (see fired.lua), "" for nothing
-- ARGV[24] one byte per tag the touch adds: "1" when an automation starts on its being added
-- ARGV[25 .. 24+h] the touch keys
-- ARGV[25+h ..] a then r triples of a derived tag: tag, source, timeline entry
-- then the touch's tags: tag, source, tag, source, ...
--
-- Returns { 1 if applied, 0 if this delivery was already handled, -1 if the signed query
--           was seen with another body, or -2 if derived changes came with a version the
--           lead is no longer at (for those two nothing is written),
--           { the lead's tag names after it, when ARGV[8] asked for them },
--           { the lead hash's fields and values, when ARGV[12] is set },
--           { the touch history's fields and values, when ARGV[12] is set },
--           { the stored events' records, oldest first, when ARGV[12] is set } }
--
-- Arguments that are numbers already are passed on as the strings they came as: Redis turns
-- a Lua number into a string with a printf, which at this rate shows in its profile.
--
-- The lead hash is read once (HMGET) and written once (HSET), and so is the history (HMGET,
-- HSET, plus EXPIREAT): at thousands of events a second, every command counts (a command
-- from a script costs Redis about as much again as the command itself). A lead seen for the
-- first time has no timeline and no history yet, so neither is read (`fresh` below).

local lead = KEYS[2]
local want_tags = ARGV[8] == '1'
local guard = ARGV[9]
local g = guard ~= '' and 11 or 10
local derive = ARGV[12] ~= ''
local derived_at = ARGV[13]
local adds, removes = tonumber(ARGV[15]), tonumber(ARGV[16])
local registered = ARGV[17]
local KNOWN = string.byte('1')
local nkeys = tonumber(ARGV[18])
-- The derived triples start after ARGV[dt], the touch's tag pairs after ARGV[t].
local dt = 24 + nkeys
local record = ARGV[19]
local t = dt + 3 * (adds + removes)

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

-- The lead's whole state, for the caller to derive tags from.
local function state_of_lead()
  if not derive then
    return {}, {}, {}
  end
  return redis.call('HGETALL', lead), redis.call('HGETALL', KEYS[9]),
    redis.call('ZRANGE', KEYS[#KEYS - 3], 0, -1)
end

-- One touch at `at` added to a touch key's stored history `raw` (false when the key has
-- none; a value not in the stored form starts over): its hour's count goes up, or the hour
-- is inserted in order (touches may arrive late), and hours older than `days` before the
-- newest touch are dropped. Returns the new value, the key's newest touch, and whether that
-- moved (true for a key with no stored history).
local function history_add(raw, at, days)
  local hour = math.floor(at / BUCKET_SECS)
  local last, previous, hours, counts = at, nil, {}, {}
  local stored, rest = string.match(raw or '', '^(%d+)(.*)$')
  if stored then
    for token in string.gmatch(rest, '%S+') do
      local h, c = string.match(token, '^(%d+)%*?(%d*)$')
      if not h then
        hours, counts, stored = {}, {}, nil
        break
      end
      hours[#hours + 1] = tonumber(h)
      counts[#counts + 1] = tonumber(c) or 1
    end
    if stored then
      previous = tonumber(stored)
      last = math.max(previous, at)
    end
  end
  local i = #hours
  while i > 0 and hours[i] > hour do
    i = i - 1
  end
  if i > 0 and hours[i] == hour then
    counts[i] = counts[i] + 1
  else
    table.insert(hours, i + 1, hour)
    table.insert(counts, i + 1, 1)
  end
  local keep = math.floor((last - days * 86400) / BUCKET_SECS)
  local out = { string.format('%d', last) }
  for j = 1, #hours do
    if hours[j] >= keep then
      out[#out + 1] = counts[j] == 1 and string.format('%d', hours[j])
        or string.format('%d*%d', hours[j], counts[j])
    end
  end
  return table.concat(out, ' '), last, last ~= previous
end

-- A plaintext body is covered by no signature: its signed query vouches for one body only.
if guard ~= '' then
  local query, digest = string.sub(guard, 1, 12), string.sub(guard, 13)
  if redis.call('HSETNX', KEYS[11], query, digest) == 1 then
    redis.call('EXPIREAT', KEYS[11], ARGV[10], 'NX')
  elseif redis.call('HGET', KEYS[11], query) ~= digest then
    return { -1, {}, {}, {}, {} }
  end
end

local openid, now, effect, scene = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ntags = (#ARGV - t) / 2
local window = ARGV[21] == 'm' and F_LAST_MESSAGE or (ARGV[21] == 'i' and F_LAST_INTERACTION)

-- The lead as it is: the fields this touch reads, then its tags' fields, then the window's.
local fields = { F_FIRST_SEEN, F_FIRST_CHANNEL, F_CHANNELS, F_SUBSCRIBED, F_VERSION, F_LAST_SEEN }
for i = 1, ntags do
  fields[#fields + 1] = F_TAG_PREFIX .. ARGV[t - 1 + 2 * i]
end
if window then
  fields[#fields + 1] = window
end
local known = redis.call('HMGET', lead, unpack(fields))
local first_seen, first_channel, channels, subscribed = known[1], known[2], known[3], known[4]

-- Derived changes hold only for the lead they were computed from: another event in between
-- and the caller computes them again.
if derived_at ~= '' then
  local moved
  if derived_at == '-' then
    moved = first_seen or known[5]
  else
    moved = (tonumber(known[5]) or 0) ~= tonumber(derived_at)
  end
  if moved then
    return { -2, {}, {}, {}, {} }
  end
end

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  local lead_fields, history, events = state_of_lead()
  return { 0, tags_of_lead(), lead_fields, history, events }
end

-- A system push (a broadcast's or a template message's result) is about the account, not a
-- lead: it is handled once, and creates no lead.
if effect == 'system' then
  return { 1, {}, {}, {}, {} }
end

local set = { F_VERSION, (tonumber(known[5]) or 0) + 1 }
local function put(field, value)
  set[#set + 1] = field
  set[#set + 1] = value
end

local is_new = not first_seen
-- No script has written this lead yet (each one that writes a timeline or a history moves
-- the version): it has neither, and neither is read.
local fresh = is_new and not known[5]
if is_new then
  put(F_FIRST_SEEN, now)
  redis.call('RPUSH', KEYS[5], openid)
  -- Events parked for this openid are applied at the scheduler's next pass.
  redis.call('ZADD', KEYS[#KEYS - 4], 'XX', 0, openid)
end

-- Last seen: the latest touch (a touch sent late moves it only if later); a location report
-- or an unfollow is no touch, though a lead first seen that way starts with it.
local last_seen = tonumber(known[6])
if is_new or not last_seen
  or (effect ~= 'location' and effect ~= 'unfollow' and tonumber(now) > last_seen) then
  put(F_LAST_SEEN, now)
  -- The day's seen set: a lead last seen earlier the same China-time day is in it already.
  if not last_seen or math.floor((last_seen + 28800) / 86400)
      ~= math.floor((tonumber(now) + 28800) / 86400) then
    redis.call('SADD', KEYS[#KEYS - 1], openid)
  end
end

-- Subscription. Only a follower can message or click in the chat: someone first seen that
-- way follows. A touch from outside the chat (a link, a form, an event) proves nothing, so a
-- lead first seen that way has no subscription until WeChat says it follows.
if effect == 'follow' or effect == 'scan' then
  put(F_SUBSCRIBED, '1')
elseif effect == 'unfollow' then
  put(F_SUBSCRIBED, '0')
elseif effect ~= 'outside' and not subscribed then
  put(F_SUBSCRIBED, '1')
end

if effect == 'location' then
  put(F_LOCATION, ARGV[7])
end

-- The customer-service window the touch opens (a push sent late moves it only if later),
-- and a request not to be contacted: both fields of the lead hash, in the same HSET.
if window and tonumber(now) > (tonumber(known[7 + ntags]) or 0) then
  put(window, now)
end
if ARGV[22] ~= '' then
  put(F_DO_NOT_CONTACT, now .. ' ' .. ARGV[22])
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
-- What fires for the automations: the caller's list, then the watched touch tags added.
local added = 0
local fired = ARGV[23] ~= '' and { ARGV[23] } or {}
local watched, WATCHED = ARGV[24], string.byte('1')
for i = 1, ntags do
  if not known[6 + i] then
    local tag = ARGV[t - 1 + 2 * i]
    put(F_TAG_PREFIX .. tag, now .. ' ' .. ARGV[t + 2 * i])
    added = added + 1
    redis.call('SADD', KEYS[g + i], openid)
    if string.byte(registered, i) ~= KNOWN then
      redis.call('HSETNX', KEYS[8], tag, now)
    end
    if string.byte(watched, i) == WATCHED then
      fired[#fired + 1] = 'a\31' .. tag
    end
  end
end

-- The rules over time's changes, computed from the lead with this touch applied.
local entries = {}
if ARGV[6] ~= '' then
  entries[1] = ARGV[6]
end
local d = g + ntags + (scene ~= '' and 1 or 0)
for i = 1, adds do
  local at = dt + 3 * i - 2
  put(F_TAG_PREFIX .. ARGV[at], now .. ' ' .. ARGV[at + 1])
  redis.call('SADD', KEYS[d + i], openid)
  if string.byte(registered, ntags + i) ~= KNOWN then
    redis.call('HSETNX', KEYS[8], ARGV[at], now)
  end
  entries[#entries + 1] = ARGV[at + 2]
  added = added + 1
end
for i = 1, removes do
  local at = dt + 3 * (adds + i) - 2
  if redis.call('HDEL', lead, F_TAG_PREFIX .. ARGV[at]) == 1 then
    redis.call('SREM', KEYS[d + adds + i], openid)
    entries[#entries + 1] = ARGV[at + 2]
    added = added + 1
  end
end

if #entries > 0 then
  push_timeline(KEYS[3], KEYS[4], table.concat(entries, '\30'), fresh)
end

redis.call('HSET', lead, unpack(set))

-- The touch history: this touch counts once for each of its touch keys, tags or not.
if nkeys > 0 then
  local at, days = tonumber(now), tonumber(ARGV[11])
  local stored = fresh and {} or redis.call('HMGET', KEYS[9], unpack(ARGV, 25, dt))
  local writes, newest, grew = {}, at, false
  for i = 1, nkeys do
    local value, last, moved = history_add(stored[i], at, days)
    writes[#writes + 1] = ARGV[24 + i]
    writes[#writes + 1] = value
    newest = math.max(newest, last)
    grew = grew or moved
  end
  redis.call('HSET', KEYS[9], unpack(writes))
  -- The hash lives until `days` + 1 days after its newest touch, only ever extended. When no
  -- key's newest touch moved, the expiry set with it stands. A hash with no expiry yet (just
  -- made) counts as infinite for GT, hence the TTL check.
  local expires = newest + (days + 1) * 86400
  if fresh then
    redis.call('EXPIREAT', KEYS[9], expires)
  elseif grew and redis.call('EXPIREAT', KEYS[9], expires, 'GT') == 0
    and redis.call('TTL', KEYS[9]) == -1 then
    redis.call('EXPIREAT', KEYS[9], expires)
  end
end

-- A custom event whose properties a condition reads: kept by its own time, only for the
-- history's length and at most ARGV[20] a lead; the set lives as long as the history.
if record ~= '' then
  local events, at, days = KEYS[#KEYS - 3], tonumber(now), tonumber(ARGV[11])
  redis.call('ZADD', events, now, record)
  redis.call('ZREMRANGEBYSCORE', events, '-inf', '(' .. string.format('%d', at - days * 86400))
  redis.call('ZREMRANGEBYRANK', events, 0, -1 - tonumber(ARGV[20]))
  redis.call('EXPIREAT', events, string.format('%d', at + (days + 1) * 86400), 'GT')
  if redis.call('TTL', events) == -1 then
    redis.call('EXPIREAT', events, string.format('%d', at + (days + 1) * 86400))
  end
end

mark_changed(KEYS[#KEYS - 2], openid)
record_fired(KEYS[#KEYS], openid, now, fired)

if derived_at ~= '' then
  if ARGV[14] == '' then
    redis.call('ZREM', KEYS[10], openid)
  else
    redis.call('ZADD', KEYS[10], ARGV[14], openid)
  end
elseif derive then
  redis.call('ZADD', KEYS[10], 'LT', ARGV[12], openid)
end

-- The day's counters. Unfollows count against the first channel. A lead first seen outside
-- the chat is a channel's new lead when it first follows, counted for its first channel.
if effect == 'follow' then
  redis.call('HINCRBY', KEYS[6], scene .. '|f', '1')
  if is_new or not subscribed then
    redis.call('HINCRBY', KEYS[6], (first_channel or scene) .. '|n', '1')
  end
elseif effect == 'scan' then
  redis.call('HINCRBY', KEYS[6], scene .. '|s', '1')
elseif effect == 'unfollow' then
  redis.call('HINCRBY', KEYS[6], (first_channel or '') .. '|u', '1')
elseif effect == 'outside' and scene ~= '' then
  redis.call('HINCRBY', KEYS[6], scene .. '|v', '1')
end

-- A sync is queued when tags were added, and when a lead that had unfollowed (or was first
-- seen outside the chat) follows with tags: WeChat dropped its tags on the unfollow, or never
-- had them, and refused what changed meanwhile, so the entry is marked `refollow` and the
-- worker pushes the whole projection again. A lead that does not follow yet is not synced.
local function has_tags()
  for _, field in ipairs(redis.call('HKEYS', lead)) do
    if string.sub(field, 1, #F_TAG_PREFIX) == F_TAG_PREFIX then
      return true
    end
  end
  return false
end
local refollow = (effect == 'follow' or effect == 'scan')
  and (subscribed == '0' or (not subscribed and not is_new))
if refollow and (added > 0 or has_tags()) then
  redis.call('XADD', KEYS[7], '*', 'o', openid, 'refollow', '1')
elseif added > 0 and (subscribed or effect ~= 'outside') then
  redis.call('XADD', KEYS[7], '*', 'o', openid)
end

local fields, history, events = state_of_lead()
return { 1, tags_of_lead(), fields, history, events }
