-- reply_claim.lua: an Idempotency-Key's kept reply, or the claim to answer it (one request at a time, cluster-wide).
-- KEYS[1]  the reply key (keys.reply)
-- ARGV[1]  this claim's token ("P:<hex>")   ARGV[2] how long the claim holds, ms
-- Returns  the kept value (a reply, or another request's claim token) when there is one, else false: claimed
-- Invariant: at most one request holds a key's claim; a claim whose holder vanished lapses after ARGV[2] ms.
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
