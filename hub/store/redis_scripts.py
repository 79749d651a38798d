"""The shared store's Lua scripts: each write that must be atomic is one script.

Redis runs a script as one step: nothing else reads or writes in between, so a check, its write, the next
version and the change message on the channel happen together or not at all (a caller cancelled mid-call
leaves either the whole write or none of it).

Conventions (see `hub.store.redis_keys` for the keys):
- Record fields arrive as name/value pairs at the end of ARGV, the values already JSON encoded in Python; a
  script copies them into the hash and never re-encodes a number (cjson keeps only 14 significant digits).
- A script answers with JSON: {"ok": {...}} or {"error": "<code>"}. Python turns the code into NotFound,
  Conflict or ValueError with the same message the embedded store gives.
- `next_version()` takes the next value of the shared counter and `announce()` publishes the change message
  {"kind", "id", "version"} on the change channel, in the same script as the write.

This module holds those helpers (`script`) and the scripts of cameras, consent (grants, the pilot and the
policy), access requests and camera ownership; the scripts of agencies, accounts and sessions are in
`hub.store.redis_scripts_auth`.
"""

from __future__ import annotations

# Every script starts with these helpers. Scripts that take a version pass the version counter and the change
# channel as KEYS[1] and KEYS[2]; the others never call `next_version` or `announce`.
_PRELUDE = """
local function fail(code)
  return cjson.encode({error = code})
end
local function ok(value)
  return cjson.encode({ok = value})
end
local function next_version()
  return redis.call('INCR', KEYS[1])
end
local function announce(kind, id, version)
  redis.call('PUBLISH', KEYS[2], cjson.encode({kind = kind, id = id, version = version}))
end
local function hset_pairs(key, first)
  if #ARGV >= first then
    redis.call('HSET', key, unpack(ARGV, first))
  end
end
"""


def script(body: str) -> str:
    """A script: the helpers above, then `body`."""
    return _PRELUDE + body


# KEYS: version, changes, owner account, camera, camera ids, owner's camera ids, token index.
# ARGV: camera id, token hash, field pairs.
ADD_CAMERA = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return fail('camera_exists')
end
if redis.call('HEXISTS', KEYS[7], ARGV[2]) == 1 then
  return fail('token_in_use')
end
local version = next_version()
hset_pairs(KEYS[4], 3)
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('HSET', KEYS[7], ARGV[2], ARGV[1])
announce('camera', ARGV[1], version)
return ok({})
""")

# KEYS: version, changes, camera, token index. ARGV: camera id, token hash, token hash (JSON).
SET_DEVICE_TOKEN = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local holder = redis.call('HGET', KEYS[4], ARGV[2])
if holder and holder ~= ARGV[1] then
  return fail('token_in_use')
end
local version = next_version()
redis.call('HDEL', KEYS[4], cjson.decode(redis.call('HGET', KEYS[3], 'token_hash')))
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], 'token_hash', ARGV[3])
announce('camera', ARGV[1], version)
return ok({})
""")

# KEYS: version, changes, camera. ARGV: camera id, lat (JSON), lon (JSON). Moves the change marker only if the
# position changed. Answers the camera record.
SET_CAMERA_LOCATION = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local lat = redis.call('HGET', KEYS[3], 'lat') or 'null'
local lon = redis.call('HGET', KEYS[3], 'lon') or 'null'
if lat ~= ARGV[2] or lon ~= ARGV[3] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'lat', ARGV[2], 'lon', ARGV[3])
  announce('camera', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: version, changes, camera. ARGV: camera id, masks (JSON). Answers the new version, which the masks keep as
# their masks_version.
SET_CAMERA_MASKS = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local version = next_version()
redis.call('HSET', KEYS[3], 'masks', ARGV[2], 'masks_version', version)
announce('camera', ARGV[1], version)
return ok({version = version})
""")

# KEYS: version, changes, camera, grant, camera ids with a grant, pilot. ARGV: camera id, field pairs. The grant
# belongs to the pilot current now: its pilot_run is that pilot's run (a pilot from before runs is run 1), 0 if
# there is none. Answers the version and pilot_run.
PUT_GRANT = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('camera_not_found')
end
local run = 0
if redis.call('EXISTS', KEYS[6]) == 1 then
  run = tonumber(redis.call('HGET', KEYS[6], 'run') or '1')
end
local version = next_version()
redis.call('DEL', KEYS[4])
hset_pairs(KEYS[4], 2)
redis.call('HSET', KEYS[4], 'version', version, 'pilot_run', run)
redis.call('SADD', KEYS[5], ARGV[1])
announce('grant', ARGV[1], version)
return ok({version = version, pilot_run = run})
""")

# KEYS: version, changes, grant. ARGV: camera id, revoked_at (JSON). Keeps an earlier withdrawal.
REVOKE_GRANT = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return ok({})
end
if redis.call('HGET', KEYS[3], 'revoked_at') == 'null' then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'revoked_at', ARGV[2], 'version', version)
  announce('grant', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: version, changes, grant. ARGV: camera id, audio (JSON true/false). A grant from before audio has none
# (reads as false). Answers the grant record, changed only if its audio was otherwise.
SET_GRANT_AUDIO = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return ok({})
end
if (redis.call('HGET', KEYS[3], 'audio') or 'false') ~= ARGV[2] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'audio', ARGV[2], 'version', version)
  announce('grant', ARGV[1], version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: camera, account, request sequence, every request id, the camera's requests, the account's requests,
# pending requests. ARGV: expires_at (score), request key stem, field pairs (all but id and agency_id).
# The agency is the account's at this moment, copied as stored. Answers the new id and that agency (JSON).
ADD_ACCESS_REQUEST = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('camera_not_found')
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return fail('account_not_found')
end
local agency = redis.call('HGET', KEYS[2], 'agency_id') or 'null'
local id = redis.call('INCR', KEYS[3])
local key = ARGV[2] .. id
redis.call('HSET', key, 'id', tostring(id), 'agency_id', agency)
hset_pairs(key, 3)
redis.call('ZADD', KEYS[4], id, id)
redis.call('ZADD', KEYS[5], id, id)
redis.call('ZADD', KEYS[6], id, id)
redis.call('ZADD', KEYS[7], ARGV[1], id)
return ok({id = id, agency_id = agency})
""")

# KEYS: request, pending requests. ARGV: request id, new state (JSON), now (JSON). Answers a request only while it
# is pending and now < expires_at: of two hubs answering at once, one wins. Fails with the state it already has
# ('approved', 'declined', 'expired'), or 'expired' if pending past its deadline (left for the expiry to mark).
ANSWER_ACCESS_REQUEST = script("""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return fail('request_not_found')
end
if state ~= '"pending"' then
  return fail(cjson.decode(state))
end
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  return fail('expired')
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'answered_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: pending requests. ARGV: now (score), request key stem. Marks every pending request with expires_at <= now
# expired, answered at its expires_at (the string copied), and takes it out of the pending set. Answers the
# records it expired (each expires once, whichever hub asks first; an empty list encodes as {}).
EXPIRE_ACCESS_REQUESTS = script("""
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. id
  if redis.call('HGET', key, 'state') == '"pending"' then
    redis.call('HSET', key, 'state', '"expired"', 'answered_at', redis.call('HGET', key, 'expires_at'))
    expired[#expired + 1] = redis.call('HGETALL', key)
  end
  redis.call('ZREM', KEYS[1], id)
end
return ok({expired = expired})
""")

# KEYS: version, changes, pilot. ARGV: now (JSON), starts_at (JSON), field pairs (starts_at, ends_at, ended). The
# Lua twin of `hub.store.pilot_runs.next_pilot`: the window continues the current pilot's run if that pilot is not
# ended, now < its ends_at and starts_at < its ends_at; otherwise it takes the next run (1 for the first; a pilot
# from before runs is run 1). tonumber parses the JSON numbers exactly (strtod), so the comparisons are exact.
# Answers the version and run.
SET_PILOT = script("""
local run = 1
if redis.call('EXISTS', KEYS[3]) == 1 then
  local current = redis.call('HMGET', KEYS[3], 'ends_at', 'run', 'ended')
  local ends_at = tonumber(current[1])
  local current_run = tonumber(current[2] or '1')
  if current[3] ~= 'true' and tonumber(ARGV[1]) < ends_at and tonumber(ARGV[2]) < ends_at then
    run = current_run
  else
    run = current_run + 1
  end
end
local version = next_version()
redis.call('DEL', KEYS[3])
hset_pairs(KEYS[3], 3)
redis.call('HSET', KEYS[3], 'version', version, 'run', run)
announce('pilot', cjson.null, version)
return ok({version = version, run = run})
""")

# KEYS: version, changes, the policy hash. ARGV: change kind ('policy'), field pairs.
SET_SETTING = script("""
local version = next_version()
redis.call('DEL', KEYS[3])
hset_pairs(KEYS[3], 2)
redis.call('HSET', KEYS[3], 'version', version)
announce(ARGV[1], cjson.null, version)
return ok({version = version})
""")

# KEYS: owner lease. ARGV: node id, lease JSON {"node", "url"}, TTL in ms. Takes a free lease or renews ours.
CLAIM_CAMERA = script("""
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).node ~= ARGV[1] then
  return ok({claimed = false})
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ok({claimed = true})
""")

# KEYS: owner lease. ARGV: node id. Deletes the lease only if this node holds it.
RELEASE_CAMERA = script("""
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).node == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return ok({})
""")
