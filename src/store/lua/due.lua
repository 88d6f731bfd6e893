-- Shared by the scripts that make leads due (prepended to them when they are built).
--
-- Gives every openid in `openids` the score `at` in the due set `due`, with ZADD's `flag`
-- (`LT`, or nil for none): one ZADD per few hundred members keeps Lua's stack bounded however
-- big the batch.
local function due_all(due, flag, at, openids)
  local args = {}
  for i, openid in ipairs(openids) do
    args[#args + 1] = at
    args[#args + 1] = openid
    if #args >= 512 or i == #openids then
      if flag then
        redis.call('ZADD', due, flag, unpack(args))
      else
        redis.call('ZADD', due, unpack(args))
      end
      args = {}
    end
  end
end
