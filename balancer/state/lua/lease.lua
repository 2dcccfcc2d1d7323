-- lease.lua: hand an instance a slice of an account's per-minute RPM/TPM budget.
-- KEYS[1]  the window key (keys.window(provider, window_id))
-- ARGV[1]  rpm limit (0 = none)        ARGV[2] tpm limit (0 = none)
-- ARGV[3]  requests wanted             ARGV[4] tokens wanted
-- ARGV[5]  ttl seconds
-- Returns  {requests granted, tokens granted}
-- Invariant: the sum of grants in a window never exceeds the limits (no overshoot, whatever the
-- number of instances); an instance spends its slice locally and asks again when it runs out.
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local want_r, want_t = tonumber(ARGV[3]), tonumber(ARGV[4])
local used = redis.call('HMGET', KEYS[1], 'r', 't')
local used_r, used_t = tonumber(used[1]) or 0, tonumber(used[2]) or 0
local give_r, give_t = want_r, want_t
if rpm > 0 then give_r = math.max(0, math.min(want_r, rpm - used_r)) end
if tpm > 0 then give_t = math.max(0, math.min(want_t, tpm - used_t)) end
if give_r > 0 or give_t > 0 then
  redis.call('HINCRBY', KEYS[1], 'r', give_r)
  redis.call('HINCRBY', KEYS[1], 't', give_t)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
return {give_r, give_t}
