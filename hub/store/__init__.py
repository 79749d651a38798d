"""Stores: one Protocol (`base.Store`), an embedded SQLite implementation, later a Redis one."""
