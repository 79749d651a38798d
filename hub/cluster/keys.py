"""The cluster state's keys in the shared Redis, under the store's prefix (default "pl:"), and its scripts.

Values are JSON. Every hub writes only its own entries, by one writer task, whole and in one script (never half a
list); its entries are a lease that it renews every third of `cluster.owner_ttl_seconds`, so a dead hub's entries
vanish with it within that lease.
"""

from __future__ import annotations

from dataclasses import dataclass

# The bus topic (`RedisStore.publish_raw`/`subscribe_raw`, channel "<prefix>bus:cluster") every cluster message
# goes by, a JSON object with "type":
#   "views"   {node, cameras}: that hub's live views or agents changed for these cameras (read its entries again).
#   "command" {id, from, to (a node, or "*" for every other hub), op ("end" {match, reason, note, at} or
#             "snapshot" {camera})}: act on this hub's own views or agent; answered by
#   "reply"   {id, from, to, ...}: "end": {ended: [ids]}; "snapshot": {jpeg: base64} or {error, reason}.
#   "masks"   {camera, value: {version, node, seq}}: published by the script that wrote `masks_applied`.
BUS_TOPIC = "cluster"


@dataclass(frozen=True, slots=True)
class ClusterKeys:
    """The cluster state's keys under one prefix."""

    prefix: str

    @property
    def nodes(self) -> str:
        """SET of node ids that have written entries (pruned of those whose `node` lease is gone, by readers)."""
        return f"{self.prefix}cluster:nodes"

    def node(self, node: str) -> str:
        """STRING, JSON {"node", "url", "agents": {camera id: "streaming"|"connecting"|"paused"|"idle"}, "seq"}:
        the hub's lease (PX expiry) and the agents (or WHIP publishers) it holds. `seq` counts its writes."""
        return f"{self.prefix}cluster:node:{node}"

    def views(self, node: str) -> str:
        """HASH viewer id -> JSON `hub.cluster.base.LiveView`: the hub's live views, same lease as `node` (an empty
        hash does not exist in Redis: no views)."""
        return f"{self.prefix}cluster:views:{node}"

    @property
    def masks_applied(self) -> str:
        """HASH camera id -> JSON {"version", "node", "seq"}: the mask version the camera's agent last confirmed
        applying (-1: it connected and has not said yet), written only by the hub holding the camera's ownership
        lease; `seq` (from `masks_seq`) orders them."""
        return f"{self.prefix}cluster:masks-applied"

    @property
    def masks_seq(self) -> str:
        """STRING, integer: the counter `masks_applied` entries take their `seq` from."""
        return f"{self.prefix}cluster:masks-seq"


# KEYS: views hash, node key, nodes set. ARGV: lease in ms, node JSON, node id, then viewer id / view JSON pairs.
# Replaces the hub's entries whole and renews its lease.
WRITE_ENTRIES = """
redis.call('DEL', KEYS[1])
if #ARGV >= 5 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# KEYS: nodes set. ARGV: the node-key stem, then node ids. Forgets the nodes whose lease is gone.
PRUNE_NODES = """
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return 1
"""

# KEYS: the camera's ownership lease, masks_applied, masks_seq, the bus channel. ARGV: node id, version (an
# integer), camera id. Only the hub holding the camera's lease writes; the entry and its message in one step.
WRITE_MASKS = """
local owner = redis.call('GET', KEYS[1])
if not owner or cjson.decode(owner).node ~= ARGV[1] then
  return 0
end
local seq = redis.call('INCR', KEYS[3])
local value = '{"version": ' .. tonumber(ARGV[2]) .. ', "node": ' .. cjson.encode(ARGV[1]) .. ', "seq": ' .. seq .. '}'
redis.call('HSET', KEYS[2], ARGV[3], value)
redis.call('PUBLISH', KEYS[4], '{"type": "masks", "camera": ' .. cjson.encode(ARGV[3]) .. ', "value": ' .. value .. '}')
return seq
"""
