#!/bin/sh
# One sentinel of deploy/compose.yaml: its config is made once, in its volume, from deploy/sentinel/sentinel.conf
# plus its port and the password (Redis's, which the sentinels also require): Sentinel keeps its state there.
set -eu
conf=/data/sentinel.conf
if [ ! -f "$conf" ]; then
	password=$(cat /run/secrets/redis_password)
	umask 077
	{
		cat /etc/porchlight/sentinel.conf
		printf 'port %s\n' "$SENTINEL_PORT"
		printf 'sentinel auth-pass porchlight %s\nrequirepass %s\n' "$password" "$password"
	} >"$conf"
fi
exec redis-server "$conf" --sentinel
