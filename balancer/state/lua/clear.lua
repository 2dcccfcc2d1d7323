-- clear.lua: end a cooldown or breaker entry early when its reason starts with a prefix; tell everyone.
-- KEYS[1]  the health hash (keys.HEALTH)
-- ARGV[1]  field   ARGV[2] reason prefix ("" matches any)   ARGV[3] the events channel
-- Returns  1 if an entry was removed, else 0
-- Invariant: only a matching entry is removed (a balance refresh clears quota disables, not auth ones).
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local reason = string.sub(cur, string.find(cur, '|', 1, true) + 1)
if string.sub(reason, 1, string.len(ARGV[2])) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'clear|' .. ARGV[1] .. '|0|')
return 1
