"""Cluster-wide state for the pages: what every hub serves, read by whichever hub a page reached.

Each hub keeps what it serves (its live views, the cameras whose agents it holds) where every other hub can read
it, and carries out on its own views what another hub asks of it (end these views, take a still picture). One
interface (`hub.cluster.base.ClusterState`), two implementations: `hub.cluster.local` (one hub: its own streams are
the whole picture) and `hub.cluster.redis` (many hubs sharing Redis: leases, pub/sub commands and answers).
`hub.cluster.setup.make_cluster` picks one.
"""
