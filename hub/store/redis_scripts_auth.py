"""The shared store's Lua scripts for agencies, accounts (failed log-ins, the TOTP second factor) and sessions.

The conventions, and the helpers every script starts with, are in `hub.store.redis_scripts`.
"""

from __future__ import annotations

from hub.store.redis_scripts import script

# KEYS: agencies. ARGV: agency id, record JSON.
ADD_AGENCY = script("""
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return fail('agency_exists')
end
return ok({})
""")

# KEYS: username index, agencies, account sequence, account ids.
# ARGV: username, '1' for an officer (whose agency must exist) or '0', agency id, account key stem, field pairs.
ADD_ACCOUNT = script("""
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then
  return fail('unknown_agency')
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return fail('username_taken')
end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', ARGV[4] .. id, 'id', tostring(id))
hset_pairs(ARGV[4] .. id, 5)
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[4], id, id)
return ok({id = id})
""")

# KEYS: version, changes, account. ARGV: account id, disabled ('true' or 'false'). A change keeps the version it took
# as the account's `version`.
SET_ACCOUNT_DISABLED = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
if redis.call('HGET', KEYS[3], 'disabled') ~= ARGV[2] then
  local version = next_version()
  redis.call('HSET', KEYS[3], 'disabled', ARGV[2], 'version', version)
  announce('account', tonumber(ARGV[1]), version)
end
return ok({record = redis.call('HGETALL', KEYS[3])})
""")

# KEYS: account. ARGV: password hash (JSON).
SET_PASSWORD_HASH = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
return ok({})
""")

# KEYS: account, then keys deleted with the change (failed log-ins). ARGV: field pairs to set on the account.
# Answers the account record.
UPDATE_ACCOUNT = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
hset_pairs(KEYS[1], 1)
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
end
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: account, its failed log-ins. ARGV: now (score), now - window (score), a new unique member, TTL in ms.
# Drops failures at or before now - window, adds this one, answers how many are in (now - window, now].
RECORD_LOGIN_FAILURE = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return ok({failures = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], ARGV[1])})
""")

# KEYS: account. ARGV: a TOTP time step (integer). Takes it as the last accepted step only if the account has a
# secret and the step is later than the last one: a code is accepted once, by whichever hub asks first.
USE_TOTP_STEP = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
local secret = redis.call('HGET', KEYS[1], 'totp_secret')
local last = tonumber(redis.call('HGET', KEYS[1], 'totp_last_step') or '-1')
if not secret or secret == 'null' or tonumber(ARGV[1]) <= last then
  return ok({accepted = false})
end
redis.call('HSET', KEYS[1], 'totp_last_step', ARGV[1])
return ok({accepted = true})
""")

# KEYS: account, session, sessions by expiry, the account's sessions.
# ARGV: token hash, expires_at (score), TTL in ms, field pairs.
ADD_SESSION = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('account_not_found')
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return fail('session_exists')
end
hset_pairs(KEYS[2], 4)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return ok({})
""")

# KEYS: session. ARGV: now (JSON). Raises last_seen_at to now (never lowers it); nothing for an unknown session.
TOUCH_SESSION = script("""
local seen = redis.call('HGET', KEYS[1], 'last_seen_at') or redis.call('HGET', KEYS[1], 'created_at')
if seen and tonumber(seen) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
end
return ok({})
""")

# KEYS: session. Its second factor is enrolled: no longer pending. Answers the session record.
FINISH_MFA = script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('session_not_found')
end
redis.call('HSET', KEYS[1], 'mfa_pending', 'false')
return ok({record = redis.call('HGETALL', KEYS[1])})
""")

# KEYS: version, changes, session, sessions by expiry. ARGV: token hash, account sessions key stem.
DELETE_SESSION = script("""
local account_id = redis.call('HGET', KEYS[3], 'account_id')
redis.call('ZREM', KEYS[4], ARGV[1])
if account_id then
  redis.call('DEL', KEYS[3])
  redis.call('SREM', ARGV[2] .. account_id, ARGV[1])
  announce('session', tonumber(account_id), next_version())
end
return ok({})
""")

# KEYS: version, changes, account, the account's sessions, sessions by expiry. ARGV: account id, session key stem.
# Ends every session in the account's index whose record names the account (one change message if any).
DELETE_SESSIONS_OF = script("""
if redis.call('EXISTS', KEYS[3]) == 0 then
  return fail('account_not_found')
end
local ended = 0
for _, token_hash in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local owner = redis.call('HGET', ARGV[2] .. token_hash, 'account_id')
  if owner == ARGV[1] then
    ended = ended + redis.call('DEL', ARGV[2] .. token_hash)
  end
  if not owner or owner == ARGV[1] then
    redis.call('ZREM', KEYS[5], token_hash)
  end
end
redis.call('DEL', KEYS[4])
if ended > 0 then
  announce('session', tonumber(ARGV[1]), next_version())
end
return ok({ended = ended})
""")

# KEYS: sessions by expiry. ARGV: now (score), session key stem, account sessions key stem. Deletes sessions with
# expires_at <= now, and their entries in their accounts' indexes.
PURGE_SESSIONS = script("""
local gone = 0
for _, token_hash in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local key = ARGV[2] .. token_hash
  local account_id = redis.call('HGET', key, 'account_id')
  if account_id then
    redis.call('SREM', ARGV[3] .. account_id, token_hash)
    gone = gone + redis.call('DEL', key)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return ok({purged = gone})
""")
