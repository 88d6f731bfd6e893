-- One form submission, atomically and at most once (a double submit posts the same CSRF
-- token, so the same marker).
--
-- KEYS[1] the submission's marker     KEYS[2] the last contact id given
-- KEYS[3] every contact (hash)        KEYS[4] the lead hash (only with an identity)
-- KEYS[5] the token's first phone and name (only with an identity through a token)
--
-- ARGV[1] how long the marker is kept (s)   ARGV[2] now (unix s)
-- ARGV[3] the contact's JSON without its opening brace (the script puts `id` and
--         `attached` in front)
-- ARGV[4] "1" with an identity through a token (a lead the submission may land on), "2"
--         with one web authorisation gave (it always lands), else ""
-- ARGV[5] the digest of the submission's phone and name   ARGV[6] the token's lifetime left (s)
-- ARGV[7 ..] pairs of the lead's field to set and its value
--
-- Returns { 1 if stored (0 for a double submit: nothing written), the contact id (0 for a
--           double submit), 1 if the values landed on the lead (for a double submit: if the
--           first one's did) }.
--
-- The lead is marked changed (for `updated_since`) by the touch the caller applies next,
-- which every submission that lands gets (again on a double submit, idempotent).
--
-- The marker keeps whether the submission landed, so a double submit tells the caller to
-- apply the lead's touch again: that touch is idempotent by the same token, and a touch
-- that failed after this script (Redis gone between the two) is applied by the retry.
--
-- Through a token, the first submission's phone and name are remembered: a later one with
-- the same lands on the lead again, one with another is someone the link was forwarded to,
-- kept as a contact of its own and not written over the lead.

local before = redis.call('GET', KEYS[1])
if before then
  return { 0, 0, before == 'a' and 1 or 0 }
end

local attached = ARGV[4] == '2'
if ARGV[4] == '1' then
  local first = redis.call('GET', KEYS[5])
  if not first then
    redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6])
    attached = true
  else
    attached = first == ARGV[5]
  end
end

redis.call('SET', KEYS[1], attached and 'a' or 'd', 'EX', ARGV[1])
local id = redis.call('INCR', KEYS[2])
local head = '{"id":' .. id .. ',"attached":' .. (attached and 'true' or 'false') .. ','
redis.call('HSET', KEYS[3], id, head .. ARGV[3])

if attached then
  local set = {}
  for i = 7, #ARGV do
    set[#set + 1] = ARGV[i]
  end
  if #set > 0 then
    redis.call('HSET', KEYS[4], unpack(set))
  end
  redis.call('HSETNX', KEYS[4], F_FIRST_FORM, ARGV[2])
  redis.call('HINCRBY', KEYS[4], F_VERSION, 1)
end

return { 1, id, attached and 1 or 0 }
