-- health.lua: record a cooldown or an open breaker, never shortening one in force; tell everyone.
-- KEYS[1]  the health hash (keys.HEALTH)
-- ARGV[1]  field ("cd:<key>" or "br:<key>")   ARGV[2] until (seconds)   ARGV[3] reason
-- ARGV[4]  now (seconds)   ARGV[5] the events channel
-- Returns  the until in force (a string)
-- Invariant: the stored until only grows while it is in the future (a re-cooldown never shortens
-- an existing one); expired entries are replaced.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local cur_until = tonumber(string.sub(cur, 1, sep - 1))
  if cur_until > tonumber(ARGV[4]) and cur_until >= tonumber(ARGV[2]) then return tostring(cur_until) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('PUBLISH', ARGV[5], 'set|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
return ARGV[2]
