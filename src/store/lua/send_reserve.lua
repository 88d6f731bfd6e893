-- Reserves one send to a lead, at most once per attempt, within WeChat's windows: the
-- attempt is recorded (`pending <channel>`) before the caller calls WeChat, and a slot of
-- the lead's open windows is spent in the same step, so two processes never both spend the
-- last one.
--
-- KEYS[1] lead hash   KEYS[2] the lead's window spend (hash)   KEYS[3] the attempt's record
-- KEYS[4] timeline head   KEYS[5] older timeline segments (see timeline.lua)
--
-- ARGV[1] now (unix s)   ARGV[2] channel: `custom` or `template`
-- ARGV[3] `1` when a template may stand in for a customer-service message no window allows
-- ARGV[4] how long the attempt's record is kept (s)   ARGV[5] what is sent, for the timeline
-- ARGV[6] the message window's length (s)   ARGV[7] its messages
-- ARGV[8] the follow, scan or click window's length (s)   ARGV[9] its messages
--
-- Windows (engagement §5; how they combine is undocumented, so the safe reading): a
-- customer-service message is allowed while some open window has spent fewer than its
-- messages, and every message counts against every window open when it is sent. So two
-- windows that overlap never allow more, together, than the larger of them would alone
-- since it opened.
--
-- Returns { decision, detail }:
--   `seen`, record        the attempt finished before: its record, nothing written
--   `unknown`, channel    the attempt was recorded before and never finished (a crash mid-call):
--                         marked unknown and put on the timeline once, never called again
--   `skip`, reason        no call: the skip is recorded, and on the timeline of a known lead
--   `custom`, ``          call message/custom/send: a slot was spent
--   `template`, reason    call message/template/send (reason: why not a customer-service
--                         message, `` for a template asked for as such)

local lead, spend, attempt = KEYS[1], KEYS[2], KEYS[3]
local at, channel, fallback, ttl, what = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5]
local now = tonumber(at)

local record = redis.call('GET', attempt)
if record then
  local started = string.match(record, '^pending (%a+)$')
  if not started then
    return { 'seen', record }
  end
  redis.call('SET', attempt, 'unknown ' .. started, 'KEEPTTL')
  push_timeline(KEYS[4], KEYS[5], at .. ' send unknown ' .. started .. ': ' .. what)
  return { 'unknown', started }
end

local function skip(reason)
  redis.call('SET', attempt, 'skipped ' .. reason, 'EX', ttl)
  if reason ~= 'unknown_lead' then
    push_timeline(KEYS[4], KEYS[5], at .. ' send skipped ' .. reason .. ': ' .. what)
  end
  return { 'skip', reason }
end

local function start(how, reason)
  redis.call('SET', attempt, 'pending ' .. how, 'EX', ttl)
  return { how, reason }
end

local f = redis.call('HMGET', lead, F_FIRST_SEEN, F_DO_NOT_CONTACT, F_BLACKLISTED, F_SUBSCRIBED,
  F_LAST_MESSAGE, F_LAST_INTERACTION)
if not f[1] then
  return skip('unknown_lead')
elseif f[2] then
  return skip('do_not_contact')
elseif f[3] then
  return skip('blacklisted')
elseif f[4] == '0' then
  return skip('unfollowed')
end
if channel == 'template' then
  return start('template', '')
end

local stored = redis.call('HMGET', spend, 'm', 'i')
local windows = {
  { 'm', tonumber(f[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), stored[1] },
  { 'i', tonumber(f[6]), tonumber(ARGV[8]), tonumber(ARGV[9]), stored[2] },
}
local open, room, closes = {}, false, 0
for _, w in ipairs(windows) do
  local field, opened, secs, limit, spent_raw = w[1], w[2], w[3], w[4], w[5]
  if opened and now < opened + secs then
    local was_opened, spent = string.match(spent_raw or '', '^(%d+) (%d+)$')
    spent = tonumber(was_opened) == opened and tonumber(spent) or 0
    open[#open + 1] = { field, opened, spent }
    room = room or spent < limit
    closes = math.max(closes, opened + secs)
  end
end

if not room then
  local reason = #open == 0 and 'outside_window' or 'window_used'
  if fallback then
    return start('template', reason)
  end
  return skip(reason)
end

local writes = {}
for _, w in ipairs(open) do
  writes[#writes + 1] = w[1]
  writes[#writes + 1] = string.format('%d %d', w[2], w[3] + 1)
end
redis.call('HSET', spend, unpack(writes))
redis.call('EXPIREAT', spend, string.format('%d', closes))
return start('custom', '')
