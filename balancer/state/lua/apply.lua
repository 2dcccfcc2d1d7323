-- apply.lua: apply one slot's part of a numbered batch of counter increments, at most once.
-- KEYS[1]     this origin's mark in the slot: the highest batch number applied (keys.applied(tag, origin))
-- KEYS[2..n]  the counters, one entry per key and field, all in KEYS[1]'s slot (one hash tag)
-- ARGV[1]     the batch number (grows per origin)     ARGV[2] the mark's TTL (seconds)
-- ARGV[3..]   per counter (KEYS[k]): field ('' = a plain INCRBY key), delta, TTL (0 = leave it)
-- Returns     1 if applied, 0 if this part was applied before (a resend after a lost reply)
-- Invariant:  each part is applied once: the mark only grows, and it moves in the same atomic call
--             as the increments, so a reply lost to a timeout or a killed connection is never counted twice.
local seq = tonumber(ARGV[1])
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq <= mark then return 0 end
for k = 2, #KEYS do
  local a = 3 + (k - 2) * 3
  local field, delta, ttl = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  if field == '' then
    redis.call('INCRBY', KEYS[k], delta)
  else
    redis.call('HINCRBY', KEYS[k], field, delta)
  end
  if ttl > 0 then redis.call('EXPIRE', KEYS[k], ttl) end
end
redis.call('SET', KEYS[1], seq, 'EX', ARGV[2])
return 1
