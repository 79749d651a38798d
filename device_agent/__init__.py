"""Porchlight's camera agent: waits on the hub's control channel and publishes over WHIP only when asked."""
