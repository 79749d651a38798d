#!/bin/sh
# One Redis node of deploy/compose.yaml (redis-a starts as the primary, redis-b as its replica; Sentinel moves the
# role on a failover). The node's own config is made once, in its data volume, from deploy/redis/redis.conf plus
# its port and the password (read from the secret, so it is never on a command line `ps` shows): Sentinel rewrites
# that file when it reconfigures the node (CONFIG REWRITE), and a restarted node keeps the role it was given.
set -eu
conf=/data/node.conf
if [ ! -f "$conf" ]; then
	password=$(cat /run/secrets/redis_password)
	umask 077
	{
		cat /etc/porchlight/redis.conf
		printf 'port %s\nbind 127.0.0.1\n' "$REDIS_PORT"
		# Replicas and sentinels reach every node at 127.0.0.1 (host networking, one machine).
		printf 'replica-announce-ip 127.0.0.1\n'
		printf 'requirepass %s\nmasterauth %s\n' "$password" "$password"
		if [ -n "${REPLICA_OF:-}" ]; then printf 'replicaof %s\n' "$REPLICA_OF"; fi
	} >"$conf"
fi
exec redis-server "$conf"
