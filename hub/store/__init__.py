"""Stores: one Protocol (`base.Store`), an embedded SQLite implementation and a Redis one for many hubs."""
