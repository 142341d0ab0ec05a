"""The Lua scripts of the Redis store; each runs atomically on one account's keys (one slot).

The in-flight set carries a fingerprint: `meta` f1, f2 = the sums (mod 2^52) of the two halves
of every reservation's random nonce. The data version carries a random token (`meta` dt, one
per commit). A reservation is checked against the exact content it was projected on — data
version and token, in-flight fingerprint — not against a counter, so a replica may have many
reservations in flight on one account (each projected on top of the ones before it): one is
accepted only if Redis holds exactly the content its caller saw (docs/state.md "Pipelining").

Contracts (the reservation scripts' KEYS start with `AccountKeys.reservations`:
meta inflight expiry index match; every change is PUBLISHed on the account channel):

RESERVE  KEYS meta inflight expiry index match
         ARGV exp_v exp_dt exp_f1 exp_f2 now channel n (id json expiry match_key n1 n2)×n
  Purges expired reservations (a change of their own), then compares (v, dt, f1, f2).
  → {1, v, iv}                      recorded; iv bumped once for the whole batch
  → {0, v, iv, dt, f1, f2}          conflict: Redis holds other content (nothing written)
  → {2, v, iv, id}                  that id is already in flight

COMMIT   KEYS meta inflight expiry index match data lease static prices
         ARGV token new_v dt keys_json dropped_before now channel static_json health_json
              full delta_json n_set n_del (field value)×n_set field×n_del
  Owner write (stream events or a REST load). Fenced: refused unless `lease` holds `token`
  (an empty token skips the check) and unless `new_v` = v + 1. Writes the changed data
  fields (`full`: replaces the hash), sets v and dt, converts the reservations confirmed by
  `keys` (`c:<id>` always, `l:<asset>` when accepted; found through the match index), drops
  accepted ones answered before `dropped_before`, purges expired ones (iv bumped once if any
  went), publishes `{"t":"d",v,dt,iv,rm,h,x:delta_json}`.
  → {1, v, iv, [removed ids]} | {-1} not the lease holder | {-2, v} version moved

SETTLE   KEYS meta inflight expiry index match — ARGV id outcome now order_id channel release
  → {0, iv} unknown id | {1, iv} released | {2} state stamped (no version change: legs same)

RELEASE  KEYS meta inflight expiry index match — ARGV channel now id... (ids may be empty:
  purge only) → {number removed (ids given + expired), iv}

LOAD     KEYS meta data static inflight prices
  → {{v, dt, iv, f1, f2}, [data fields], static, [inflight], [prices]}

LEASE_RENEW / LEASE_RELEASE  KEYS lease — ARGV token [ttl_ms] → 1 if still the holder
"""

from __future__ import annotations

__all__ = ["COMMIT", "LEASE_RELEASE", "LEASE_RENEW", "LOAD", "RELEASE", "RESERVE", "SETTLE"]

_COMMON = """
local HALF = 4503599627370496
local K = {meta = KEYS[1], inflight = KEYS[2], expiry = KEYS[3], index = KEYS[4], match = KEYS[5]}

local function fmt(x) return string.format('%.0f', x) end

-- the fingerprint, moved by (d1, d2) with sign s
local function fingerprint(d1, d2, s)
  local f = redis.call('HMGET', K.meta, 'f1', 'f2')
  local a = (tonumber(f[1] or '0') + s * d1) % HALF
  local b = (tonumber(f[2] or '0') + s * d2) % HALF
  redis.call('HSET', K.meta, 'f1', fmt(a), 'f2', fmt(b))
end

local function index_add(id, n1, n2, key)
  redis.call('HSET', K.index, id, n1 .. ' ' .. n2 .. ' ' .. key)
  local cur = redis.call('HGET', K.match, key)
  local ids = {}
  if cur then ids = cjson.decode(cur) end
  ids[#ids + 1] = id
  redis.call('HSET', K.match, key, cjson.encode(ids))
end

-- remove reservation `id` from every structure; its nonce halves, or nil when absent
local function remove(id)
  redis.call('ZREM', K.expiry, id)
  if redis.call('HDEL', K.inflight, id) == 0 then return nil end
  local x = redis.call('HGET', K.index, id)
  if not x then return 0, 0 end
  redis.call('HDEL', K.index, id)
  local n1, n2, key = string.match(x, '^(%d+) (%d+) (.*)$')
  local cur = redis.call('HGET', K.match, key)
  if cur then
    local rest = {}
    for _, other in ipairs(cjson.decode(cur)) do
      if other ~= id then rest[#rest + 1] = other end
    end
    if #rest == 0 then
      redis.call('HDEL', K.match, key)
    else
      redis.call('HSET', K.match, key, cjson.encode(rest))
    end
  end
  return tonumber(n1), tonumber(n2)
end

-- remove `ids` (absent ones are skipped); the removed ones, fingerprint updated, no publish
local function remove_all(ids)
  local gone, d1, d2 = {}, 0, 0
  for _, id in ipairs(ids) do
    local a, b = remove(id)
    if a then
      gone[#gone + 1] = id
      d1 = (d1 + a) % HALF
      d2 = (d2 + b) % HALF
    end
  end
  if #gone > 0 then fingerprint(d1, d2, -1) end
  return gone
end

local function publish_removed(channel, gone)
  local iv = redis.call('HINCRBY', K.meta, 'iv', 1)
  redis.call('PUBLISH', channel, cjson.encode({t = 'r', iv = iv, rm = gone}))
  return iv
end

-- drop expired reservations (a change of its own: iv bumped, published)
local function purge(now, channel)
  local gone = remove_all(redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now))
  if #gone > 0 then publish_removed(channel, gone) end
  return gone
end

local function iv_now() return tonumber(redis.call('HGET', K.meta, 'iv') or '0') end
"""

RESERVE = (
    _COMMON
    + """
local channel = ARGV[6]
purge(tonumber(ARGV[5]), channel)
local m = redis.call('HMGET', K.meta, 'v', 'dt', 'iv', 'f1', 'f2')
local v, dt, iv = tonumber(m[1] or '0'), m[2] or '', tonumber(m[3] or '0')
local f1, f2 = tonumber(m[4] or '0'), tonumber(m[5] or '0')
if v ~= tonumber(ARGV[1]) or dt ~= ARGV[2] or f1 ~= tonumber(ARGV[3])
    or f2 ~= tonumber(ARGV[4]) then
  return {0, v, iv, dt, fmt(f1), fmt(f2)}
end
local n = tonumber(ARGV[7])
for i = 0, n - 1 do
  if redis.call('HEXISTS', K.inflight, ARGV[8 + 6 * i]) == 1 then
    return {2, v, iv, ARGV[8 + 6 * i]}
  end
end
local added = {}
for i = 0, n - 1 do
  local b = 8 + 6 * i
  local id, n1, n2 = ARGV[b], ARGV[b + 4], ARGV[b + 5]
  redis.call('HSET', K.inflight, id, ARGV[b + 1])
  redis.call('ZADD', K.expiry, ARGV[b + 2], id)
  index_add(id, n1, n2, ARGV[b + 3])
  f1 = (f1 + tonumber(n1)) % HALF
  f2 = (f2 + tonumber(n2)) % HALF
  added[#added + 1] = ARGV[b + 1]
end
iv = iv + 1
redis.call('HSET', K.meta, 'iv', iv, 'f1', fmt(f1), 'f2', fmt(f2))
redis.call('PUBLISH', channel,
  '{"t":"r","iv":' .. iv .. ',"add":[' .. table.concat(added, ',') .. ']}')
return {1, v, iv}
"""
)

COMMIT = (
    _COMMON
    + """
local data, lease, static, prices = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local token, new_v, dt = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local keys, dropped_before, now = cjson.decode(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local channel, static_json, health, full = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local n_set, n_del = tonumber(ARGV[12]), tonumber(ARGV[13])
if token ~= '' and redis.call('GET', lease) ~= token then return {-1} end
local v = tonumber(redis.call('HGET', K.meta, 'v') or '0')
if new_v ~= v + 1 then return {-2, v} end
redis.call('HSET', K.meta, 'v', new_v, 'dt', dt)
if static_json ~= '' then redis.call('SET', static, static_json) end
if full == '1' then redis.call('DEL', data) end
local first = 14
local i = 0
while i < n_set do
  local chunk = {}
  local j = i
  while j < n_set and j < i + 500 do
    chunk[#chunk + 1] = ARGV[first + 2 * j]
    chunk[#chunk + 1] = ARGV[first + 2 * j + 1]
    j = j + 1
  end
  redis.call('HSET', data, unpack(chunk))
  i = j
end
first = first + 2 * n_set
i = 0
while i < n_del do
  local chunk = {}
  local j = i
  while j < n_del and j < i + 1000 do
    chunk[#chunk + 1] = ARGV[first + j]
    j = j + 1
  end
  redis.call('HDEL', data, unpack(chunk))
  i = j
end
redis.call('HSET', prices, 'h', health)
local seen, order = {}, {}
local function mark(id)
  if not seen[id] then
    seen[id] = true
    order[#order + 1] = id
  end
end
for _, k in ipairs(keys) do
  local cur = redis.call('HGET', K.match, k)
  if cur then
    for _, id in ipairs(cjson.decode(cur)) do
      if string.sub(k, 1, 2) == 'c:' then
        mark(id)
      else
        local raw = redis.call('HGET', K.inflight, id)
        if raw and cjson.decode(raw).st == 'accepted' then mark(id) end
      end
    end
  end
end
if dropped_before > 0 then
  local all = redis.call('HGETALL', K.inflight)
  for j = 1, #all, 2 do
    local r = cjson.decode(all[j + 1])
    local answered = r.a ~= cjson.null and r.a ~= nil
    if r.st == 'accepted' and answered and r.a < dropped_before then mark(all[j]) end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now)) do mark(id) end
local gone = remove_all(order)
local iv
if #gone > 0 then
  iv = redis.call('HINCRBY', K.meta, 'iv', 1)
else
  iv = iv_now()
end
local rm = '[]'
if #gone > 0 then rm = cjson.encode(gone) end
redis.call('PUBLISH', channel, '{"t":"d","v":' .. new_v .. ',"dt":"' .. dt .. '","iv":' .. iv
  .. ',"rm":' .. rm .. ',"h":' .. health .. ',"x":' .. ARGV[11] .. '}')
return {1, new_v, iv, gone}
"""
)

SETTLE = (
    _COMMON
    + """
local id, outcome, now, order_id, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local raw = redis.call('HGET', K.inflight, id)
if not raw then return {0, iv_now()} end
if outcome == 'rejected' or ARGV[6] == '1' then
  local gone = remove_all({id})
  return {1, publish_removed(channel, gone)}
end
local r = cjson.decode(raw)
r.st = outcome
r.a = now
if order_id ~= '' then r.oid = order_id end
redis.call('HSET', K.inflight, id, cjson.encode(r))
return {2}
"""
)

RELEASE = (
    _COMMON
    + """
local channel, now = ARGV[1], tonumber(ARGV[2])
local purged = purge(now, channel)
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
local gone = remove_all(ids)
local iv
if #gone > 0 then iv = publish_removed(channel, gone) else iv = iv_now() end
return {#purged + #gone, iv}
"""
)

LOAD = """
return {redis.call('HMGET', KEYS[1], 'v', 'dt', 'iv', 'f1', 'f2'), redis.call('HGETALL', KEYS[2]),
  redis.call('GET', KEYS[3]), redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[5])}
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
