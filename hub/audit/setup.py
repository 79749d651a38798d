"""Opening the audit log the configuration names (for the hub and for the CLI)."""

from __future__ import annotations

from hub.audit.log import AuditLog
from hub.audit.signing import Signer, load_or_create_signer
from hub.config import Config, StoreKind
from hub.store.audit_base import AuditStore
from hub.store.audit_redis import RedisAuditStore
from hub.store.audit_sqlite import SqliteAuditStore
from hub.store.redis_sentinel import redis_target


async def open_audit_store(config: Config) -> AuditStore:
    """The audit store on the configured backend: its own SQLite file, or the shared Redis."""
    store, audit = config.store, config.audit
    if store.kind is StoreKind.REDIS:
        return await RedisAuditStore.open(
            redis_target(store),
            prefix=store.redis_prefix,
            connect_timeout=store.redis_connect_timeout_seconds,
            socket_timeout=min(store.redis_socket_timeout_seconds, audit.write_timeout_seconds),
        )
    return await SqliteAuditStore.open(store.data_dir / "audit.sqlite3", write_timeout=audit.write_timeout_seconds)


def signer_for(config: Config) -> Signer:
    """The log's signer key (made on first use when it is the default file)."""
    return load_or_create_signer(config.signing_key_path(), config.audit.origin)


async def open_audit(config: Config, hub: str, *, background: bool = True) -> AuditLog:
    """The audit log for a hub (`background`: sign checkpoints periodically) or a CLI command."""
    signer = signer_for(config)
    store = await open_audit_store(config)
    try:
        return await AuditLog.open(
            store,
            signer,
            origin=config.audit.origin,
            hub=hub,
            checkpoint_seconds=config.audit.checkpoint_seconds if background else 0,
        )
    except BaseException:
        await store.close()
        raise
