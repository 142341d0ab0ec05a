"""The Lua scripts of the Redis store; each runs atomically on one account's keys (one slot).

Contracts (KEYS are `AccountKeys` fields; every change is PUBLISHed on the account channel):

RESERVE  KEYS meta inflight expiry snap — ARGV exp_v exp_iv now channel n (id json expiry)×n
  Purges expired reservations (bumping iv), then compares (v, iv) with the expected versions.
  → {1, v, iv}                      recorded; iv bumped once for the whole batch
  → {0, v, iv, [id, json, ...], snap|nil}   conflict: current set, and data when v moved
  → {2, v, iv, id}                  that id is already in flight

COMMIT   KEYS meta inflight expiry snap lease static prices — ARGV token new_v data keys_json
           dropped_before now channel static_json health_json
  Owner write (stream events or a REST load). Fenced: refused unless `lease` holds `token`
  (the memory-less single-replica mode passes an empty token and no lease check is made)
  and unless `new_v` = v + 1. Stores data (and static when given), bumps v, converts the
  reservations confirmed by `keys` (`c:<id>` always, `l:<asset>` when accepted), drops
  accepted ones answered before `dropped_before`, purges expired ones (bumping iv once).
  → {1, v, iv, [removed ids]} | {-1} not the lease holder | {-2, v} version moved

SETTLE   KEYS meta inflight expiry — ARGV id outcome now order_id channel release
  → {0} unknown id | {1, iv} released | {2} state stamped (no version change: legs same)

RELEASE  KEYS meta inflight expiry — ARGV channel now id... (ids may be empty: purge only)
  → number removed (ids given + expired)

LOAD     KEYS meta snap static inflight prices → {v, iv, snap, static, [inflight], [prices]}

LEASE_RENEW / LEASE_RELEASE  KEYS lease — ARGV token [ttl_ms] → 1 if still the holder
"""

from __future__ import annotations

__all__ = ["COMMIT", "LEASE_RELEASE", "LEASE_RENEW", "LOAD", "RELEASE", "RESERVE", "SETTLE"]

_PURGE = """
local function purge(meta, inflight, expiry, now, channel)
  local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  if #gone == 0 then return nil end
  redis.call('HDEL', inflight, unpack(gone))
  redis.call('ZREM', expiry, unpack(gone))
  local iv = redis.call('HINCRBY', meta, 'iv', 1)
  redis.call('PUBLISH', channel, cjson.encode({t = 'r', iv = iv, rm = gone}))
  return gone
end
"""

RESERVE = (
    _PURGE
    + """
local meta, inflight, expiry, snap = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local channel = ARGV[4]
purge(meta, inflight, expiry, tonumber(ARGV[3]), channel)
local v = tonumber(redis.call('HGET', meta, 'v') or '0')
local iv = tonumber(redis.call('HGET', meta, 'iv') or '0')
if v ~= tonumber(ARGV[1]) or iv ~= tonumber(ARGV[2]) then
  local data = false
  if v ~= tonumber(ARGV[1]) then data = redis.call('GET', snap) end
  return {0, v, iv, redis.call('HGETALL', inflight), data}
end
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  if redis.call('HEXISTS', inflight, ARGV[6 + 3 * i]) == 1 then
    return {2, v, iv, ARGV[6 + 3 * i]}
  end
end
local added = {}
for i = 0, n - 1 do
  local id, json, exp = ARGV[6 + 3 * i], ARGV[7 + 3 * i], ARGV[8 + 3 * i]
  redis.call('HSET', inflight, id, json)
  redis.call('ZADD', expiry, exp, id)
  added[#added + 1] = json
end
iv = redis.call('HINCRBY', meta, 'iv', 1)
redis.call('PUBLISH', channel,
  '{"t":"r","iv":' .. iv .. ',"add":[' .. table.concat(added, ',') .. ']}')
return {1, v, iv}
"""
)

COMMIT = """
local meta, inflight, expiry, snap = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lease, static, prices = KEYS[5], KEYS[6], KEYS[7]
local token, new_v, data = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local keys, dropped_before, now = cjson.decode(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local channel, static_json, health = ARGV[7], ARGV[8], ARGV[9]
if token ~= '' and redis.call('GET', lease) ~= token then return {-1} end
local v = tonumber(redis.call('HGET', meta, 'v') or '0')
if new_v ~= v + 1 then return {-2, v} end
redis.call('HSET', meta, 'v', new_v)
if static_json ~= '' then redis.call('SET', static, static_json) end
redis.call('SET', snap, data)
redis.call('HSET', prices, 'h', health)
local wanted = {}
for _, k in ipairs(keys) do wanted[k] = true end
local removed = {}
local all = redis.call('HGETALL', inflight)
for i = 1, #all, 2 do
  local r = cjson.decode(all[i + 1])
  local m = r.m
  local convert = wanted[m] and (string.sub(m, 1, 2) == 'c:' or r.st == 'accepted')
  local answered = r.a ~= cjson.null and r.a ~= nil
  local drop = dropped_before > 0 and r.st == 'accepted' and answered and r.a < dropped_before
  if convert or drop or r.x <= now then removed[#removed + 1] = all[i] end
end
local iv
if #removed > 0 then
  redis.call('HDEL', inflight, unpack(removed))
  redis.call('ZREM', expiry, unpack(removed))
  iv = redis.call('HINCRBY', meta, 'iv', 1)
else
  iv = tonumber(redis.call('HGET', meta, 'iv') or '0')
end
local rm = '[]'
if #removed > 0 then rm = cjson.encode(removed) end
redis.call('PUBLISH', channel, '{"t":"d","v":' .. new_v .. ',"iv":' .. iv .. ',"rm":' .. rm
  .. ',"h":' .. health .. ',"data":' .. data .. '}')
return {1, new_v, iv, removed}
"""

SETTLE = """
local meta, inflight, expiry = KEYS[1], KEYS[2], KEYS[3]
local id, outcome, now, order_id, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local raw = redis.call('HGET', inflight, id)
if not raw then return {0} end
if outcome == 'rejected' or ARGV[6] == '1' then
  redis.call('HDEL', inflight, id)
  redis.call('ZREM', expiry, id)
  local iv = redis.call('HINCRBY', meta, 'iv', 1)
  redis.call('PUBLISH', channel, cjson.encode({t = 'r', iv = iv, rm = {id}}))
  return {1, iv}
end
local r = cjson.decode(raw)
r.st = outcome
r.a = now
if order_id ~= '' then r.oid = order_id end
redis.call('HSET', inflight, id, cjson.encode(r))
return {2}
"""

RELEASE = (
    _PURGE
    + """
local meta, inflight, expiry = KEYS[1], KEYS[2], KEYS[3]
local channel, now = ARGV[1], tonumber(ARGV[2])
local purged = purge(meta, inflight, expiry, now, channel)
local count = 0
if purged then count = #purged end
local gone = {}
for i = 3, #ARGV do
  if redis.call('HDEL', inflight, ARGV[i]) == 1 then gone[#gone + 1] = ARGV[i] end
end
if #gone == 0 then return count end
redis.call('ZREM', expiry, unpack(gone))
local iv = redis.call('HINCRBY', meta, 'iv', 1)
redis.call('PUBLISH', channel, cjson.encode({t = 'r', iv = iv, rm = gone}))
return count + #gone
"""
)

LOAD = """
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local iv = tonumber(redis.call('HGET', KEYS[1], 'iv') or '0')
return {v, iv, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]),
  redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[5])}
"""

LEASE_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

LEASE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
