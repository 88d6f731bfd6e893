-- Marks the leads WeChat's blacklist names (those wxtag knows and has not marked yet).
--
-- KEYS[1 .. n] lead hashes   KEYS[n+1] the changed leads (sorted set)
-- ARGV[1] the mark (`<at> <source>`)   ARGV[2 .. n+1] the openids, in the keys' order
--
-- Returns how many leads were newly marked.

local marked = 0
for i = 1, #KEYS - 1 do
  if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('HSETNX', KEYS[i], F_BLACKLISTED, ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[i], F_VERSION, 1)
    mark_changed(KEYS[#KEYS], ARGV[i + 1])
    marked = marked + 1
  end
end
return marked
