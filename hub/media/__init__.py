"""The media path: WHIP ingest, per-viewer gated tracks, WHEP egress, the agents' control channel."""
