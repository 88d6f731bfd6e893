-- Shared by the scripts that change leads (prepended to them when they are built).
--
-- Records what fired for a lead in the automation inbox (a stream the automation worker
-- reads through its consumer group, acknowledging and deleting each entry): one XADD, only
-- when something did. `fired` is a list of `kind \31 value` items (see rules::automation).
local function record_fired(inbox, openid, now, fired)
  if #fired > 0 then
    redis.call('XADD', inbox, '*', 'o', openid, 't', table.concat(fired, '\30'), 'at', now)
  end
end
