"""Client addresses on the record without putting them in the record.

A record (what owners read and verify, and what the tree hashes forever) carries no address: when the request
had one, it carries `source_commitment`, HMAC-SHA256 of the address under a random 16-byte salt of its own.
The address and the salt are kept beside the log (`hub.store.audit_base.Source`; admins only), so an admin can
show that the address kept is the one the signed record committed to, while an owner learns nothing from the
commitment: without the salt, trying every IPv4 address (2^32) finds nothing, and two records of one officer
carry unrelated commitments. (An unsalted hash of an address would be reversed by exactly that search.)

Records written before this carry the address itself in `source`; it cannot leave a signed leaf without
breaking every proof, so owners are given those records redacted (hub/api/audit.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from hub.store.audit_base import Source

SALT_BYTES = 16
COMMITMENT = "source_commitment"
"""The record field holding the commitment (lower-case hex)."""
LEGACY = "source"
"""The record field where records written before commitments hold the address itself."""


def commitment(source: Source) -> str:
    """HMAC-SHA256 of the address under the source's salt, in lower-case hex."""
    return hmac.new(source.salt, source.address.encode("utf-8"), hashlib.sha256).hexdigest()


def new_source(address: str) -> tuple[Source, str]:
    """A source with a fresh random salt, and its commitment."""
    source = Source(address, secrets.token_bytes(SALT_BYTES))
    return source, commitment(source)


def matches(source: Source, committed: object) -> bool:
    """Whether the record's commitment is this source's (compared in constant time)."""
    return isinstance(committed, str) and hmac.compare_digest(commitment(source), committed)
