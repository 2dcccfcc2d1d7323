-- clientkeys.lua: create, update or delete one client key record, and move the table's version.
-- KEYS[1]  the records hash (keys.CLIENT_KEYS)      KEYS[2] the version counter (keys.CLIENT_KEYS_VERSION)
-- ARGV[1]  create | update | delete   ARGV[2] the key's name   ARGV[3] its record (JSON; unused by delete)
-- Returns  the new version, or 0 when nothing changed (create: the name is taken; update, delete: no such name)
-- Invariant: every change moves the version in the same atomic call, so an instance that sees the version
-- it last loaded has every change (a revoke included).
local exists = redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1
if (ARGV[1] == 'create') == exists then return 0 end
if ARGV[1] == 'delete' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[2])
