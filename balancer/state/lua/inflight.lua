-- inflight.lua: take one concurrency slot of an account, or refuse.
-- KEYS[1]  the in-flight set (keys.inflight(provider))
-- ARGV[1]  now (seconds)   ARGV[2] limit   ARGV[3] reservation id   ARGV[4] reservation expiry (seconds)
-- Returns  1 if taken, 0 if the account is at its limit
-- Invariant: at most `limit` unexpired reservations; a crashed instance's reservations expire by
-- themselves (their score is their expiry), so no slot leaks forever.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], 3600)
return 1
