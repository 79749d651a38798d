"""Authentication helpers: password hashing (argon2id) and random bearer tokens (sessions, devices)."""
