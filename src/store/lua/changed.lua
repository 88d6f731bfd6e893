-- Marks a lead changed for `GET /api/leads?updated_since=`: one ZADD, scored by Redis's own
-- clock in microseconds (one clock for every process; a later write always scores higher, so
-- a lead changed while a CRM pages moves past its cursor and is listed again, never skipped).
local function mark_changed(changed, openid)
  local time = redis.call('TIME')
  redis.call('ZADD', changed, string.format('%d', time[1] * 1000000 + time[2]), openid)
end

