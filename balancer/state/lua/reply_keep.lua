-- reply_keep.lua: end a claim: keep the reply in its place, or give the key up (nothing worth keeping).
-- KEYS[1]  the reply key (keys.reply)
-- ARGV[1]  the claim's token   ARGV[2] the reply ("" to give the claim up)   ARGV[3] how long it is kept, ms
-- Returns  1 if this claim still held the key (and the reply was kept or the key freed), else 0
-- Invariant: a claim that lapsed (and was taken by another request, or replaced by its reply) is left alone.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
