-- One page of the changed leads after a cursor, for `GET /api/leads?updated_since=`.
--
-- KEYS[1] the changed leads (sorted set: openid → µs)
-- ARGV[1] the cursor's time (µs)   ARGV[2] the cursor's openid, "" to start at the time itself
-- ARGV[3] at most this many   ARGV[4] at most this many members looked at
--
-- Returns openid, score pairs, oldest change first: every lead changed at the cursor's time
-- after its openid, then every lead changed later. Members at the same time sort by openid
-- in Redis, so the cursor (time, openid) is exact; the look-ups past members at the cursor's
-- own time are bounded by ARGV[4].

local from, after = tonumber(ARGV[1]), ARGV[2]
local limit, most = tonumber(ARGV[3]), tonumber(ARGV[4])
local out, offset = {}, 0
while #out < 2 * limit and offset < most do
  local page = redis.call('ZRANGE', KEYS[1], ARGV[1], '+inf', 'BYSCORE', 'LIMIT', offset, limit,
    'WITHSCORES')
  for i = 1, #page, 2 do
    if after == '' or tonumber(page[i + 1]) > from or page[i] > after then
      out[#out + 1] = page[i]
      out[#out + 1] = page[i + 1]
      if #out == 2 * limit then
        break
      end
    end
  end
  if #page < 2 * limit then
    break
  end
  offset = offset + limit
end
return out
