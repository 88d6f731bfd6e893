-- Removes the dead letters of some leads that WeChat refused with one errcode (e.g. 40003,
-- refused because the lead did not follow), so that their changes are retried.
--
-- KEYS[1] the dead-letter list (JSON objects, see dead letters in store/sync.rs)
-- ARGV[1] the errcode   ARGV[2 ..] the openids
--
-- Returns how many were removed. Walks the whole list: it is short, and this runs only when
-- leads follow again.

local errcode = tonumber(ARGV[1])
local wanted = {}
for i = 2, #ARGV do
  wanted[ARGV[i]] = true
end
local removed = 0
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, letter = pcall(cjson.decode, raw)
  if ok and type(letter) == 'table' and wanted[letter.openid] and letter.errcode == errcode then
    removed = removed + redis.call('LREM', KEYS[1], 1, raw)
  end
end
return removed
