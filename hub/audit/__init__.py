"""The tamper-evident audit log: records in an RFC 9162 Merkle tree, with inclusion and consistency proofs."""
