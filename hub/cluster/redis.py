"""Cluster state on the shared Redis: every hub's live views and agents, commands between hubs, masks applied.

- Each hub's writer task keeps its entries (`hub.cluster.keys`) whole: it wakes on this hub's "watchers" and
  "streams" live events, writes what changed (one script), tells the other hubs which cameras changed, and renews
  the lease every third of it. A dead hub's entries vanish when its lease runs out; the others notice when they
  read again (at least that often) and tell their pages and agents.
- Each hub follows the bus topic: another hub's change is read again, and what changed is told to this hub's
  pages (a "watchers" or "streams" live event of the camera) and to the camera's agent if it is connected here
  (the control "watchers" message lists every hub's viewers).
- Commands (end views, take a still picture) go to the hub that holds them and are answered, with a timeout.
- The mask version an agent confirmed is written by the hub that holds the camera and followed by every other
  hub's gates, so a hub serving the camera's viewers from elsewhere sees the confirmation (`MASKS_PENDING`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import secrets
from typing import Any

from redis.commands.core import AsyncScript

from hub.cluster.base import Ended, LiveView, Match, Seen
from hub.cluster.here import agents_here, end_here, views_here
from hub.cluster.keys import BUS_TOPIC, PRUNE_NODES, WRITE_ENTRIES, WRITE_MASKS, ClusterKeys
from hub.consent.registry import GateRegistry
from hub.errors import CameraOffline
from hub.live import LiveEvents
from hub.media.masks import SNAPSHOT_TIMEOUT, snapshot
from hub.media.streams import StreamManager
from hub.store.base import StoreUnavailable
from hub.store.redis import RedisStore
from hub.store.redis_plumbing import guard

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
# Commands are answered within this long at least (a hub ending many views closes each connection first).
MIN_COMMAND_SECONDS = 2.0

Snapshot = tuple[dict[str, dict[str, LiveView]], dict[str, dict[str, str]]]
"""The other hubs' entries as last read: node -> viewer id -> view, and node -> camera id -> agent status."""


class RedisCluster:
    """Cluster state for one hub among many sharing Redis."""

    single_hub = False

    def __init__(
        self,
        store: RedisStore,
        streams: StreamManager,
        registry: GateRegistry,
        live: LiveEvents,
        *,
        node: str,
        url: str,
        lease_seconds: float,
        command_seconds: float,
    ) -> None:
        self._store, self._streams, self._registry, self._live = store, streams, registry, live
        self.node, self._url = node, url
        self._lease, self._command = lease_seconds, max(command_seconds, MIN_COMMAND_SECONDS)
        self._keys = ClusterKeys(store.keys.prefix)  # the store's own prefix: one deployment's keys together
        self._write_entries: AsyncScript = store.client.register_script(WRITE_ENTRIES)
        self._prune_nodes: AsyncScript = store.client.register_script(PRUNE_NODES)
        self._write_masks: AsyncScript = store.client.register_script(WRITE_MASKS)
        # This hub's entries as last written (None: write whole at the next chance), and how many writes.
        self._written: tuple[dict[str, str], dict[str, str]] | None = None
        self._seq = 0
        # The other hubs' entries as last read (`_reread`).
        self._others: Snapshot = ({}, {})
        self._reread_lock = asyncio.Lock()
        self._masks_seq: dict[str, int] = {}
        self._masks_lock = asyncio.Lock()
        self._answers: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ready = asyncio.Event()  # following the bus: commands may be sent (their answers will be heard)
        self._tasks: list[asyncio.Task[None]] = []

    # Reading ---------------------------------------------------------------------------------------------
    async def seen(self) -> Seen:
        others, statuses = await self._read()
        views = views_here(self._streams, self.node) + [v for entries in others.values() for v in entries.values()]
        views.sort(key=lambda view: (view.started, view.id))
        agents = {c: (status, node) for node, held in sorted(statuses.items()) for c, status in held.items()}
        # This hub's own agents as they are now (another hub's entry for one of them is older).
        agents.update({camera_id: (status, self.node) for camera_id, status in agents_here(self._streams).items()})
        return Seen(views, agents)

    async def views(self, camera_id: str | None = None) -> list[LiveView]:
        views = (await self.seen()).views
        return [view for view in views if camera_id is None or view.camera == camera_id]

    async def find(self, viewer_id: str) -> LiveView | None:
        return next((view for view in await self.views() if view.id == viewer_id), None)

    async def agent_status(self, camera_id: str) -> tuple[str, str] | None:
        here = agents_here(self._streams).get(camera_id)
        if here is not None:
            return here, self.node
        _, agents = await self._read()
        return next(((a[camera_id], node) for node, a in sorted(agents.items()) if camera_id in a), None)

    async def masks_applied(self, camera_id: str) -> int | None:
        if self._streams.stream(camera_id).control is not None:
            return self._registry.gate(camera_id).state.masks_applied
        value = await self._hget(self._keys.masks_applied, camera_id)
        if value is None:
            return None
        version = json.loads(value).get("version")
        return version if isinstance(version, int) else None

    @guard
    async def _hget(self, key: str, field: str) -> str | None:
        value = await self._store.client.hget(key, field)
        return None if value is None else str(value)

    @guard
    async def _read(self) -> Snapshot:
        """Every other live hub's entries, read now (nodes whose lease ran out are forgotten)."""
        r = self._store.client
        nodes = sorted(str(n) for n in await r.smembers(self._keys.nodes) if str(n) != self.node)
        if not nodes:
            return {}, {}
        async with r.pipeline(transaction=True) as pipe:
            for node in nodes:
                pipe.get(self._keys.node(node))
                pipe.hgetall(self._keys.views(node))
            answers = await pipe.execute()
        views: dict[str, dict[str, LiveView]] = {}
        agents: dict[str, dict[str, str]] = {}
        gone = []
        for node, lease, entries in zip(nodes, answers[::2], answers[1::2], strict=True):
            if lease is None:
                gone.append(node)
                continue
            views[node] = _views(node, entries)
            agents[node] = _agents(node, lease)
        if gone:
            await self._prune_nodes(keys=[self._keys.nodes], args=[self._keys.node(""), *gone])
        return views, agents

    def match(self, **criteria: Any) -> Match:
        wanted = Match(**criteria)
        known = [view for entries in self._others[0].values() for view in entries.values()]
        ids = {view.id for view in known if _names(wanted, view)}
        return Match(frozenset(ids) | wanted.ids, wanted.camera, wanted.account, wanted.session, wanted.bar)

    # Acting elsewhere ------------------------------------------------------------------------------------
    async def end_elsewhere(
        self, match: Match, reason: str, *, note: str | None = None, at: float | None = None
    ) -> Ended:
        try:
            others = set((await self._read())[0])
        except StoreUnavailable:
            return Ended(frozenset(), complete=False)
        if not others:
            return Ended()
        command = {"op": "end", "match": match.to_json(), "reason": reason, "note": note, "at": at}
        answers = await self._ask("*", command, others, self._command)
        ended = {i for answer in answers.values() for i in answer.get("ended", []) if isinstance(i, str)}
        return Ended(frozenset(ended), complete=set(answers) >= others)

    async def snapshot(self, camera_id: str) -> bytes:
        try:
            owner = await self._store.camera_owner(camera_id)
        except StoreUnavailable:
            owner = None
        if owner is None or owner[0] == self.node:
            return await snapshot(self._streams.stream(camera_id).control)
        node = owner[0]
        answers = await self._ask(node, {"op": "snapshot", "camera": camera_id}, {node}, SNAPSHOT_TIMEOUT + 1.0)
        answer = answers.get(node)
        if answer is None:
            raise CameraOffline("the hub that holds the camera did not answer in time", "snapshot_failed")
        if "error" in answer:
            raise CameraOffline(str(answer["error"]), str(answer.get("reason") or "snapshot_failed"))
        try:
            return base64.b64decode(str(answer.get("jpeg", "")), validate=True)
        except (binascii.Error, ValueError):
            raise CameraOffline("the camera could not take a picture", "snapshot_failed") from None

    async def agent_masks(self, camera_id: str, version: int) -> None:
        try:
            async with self._masks_lock:  # in the order the agent said them (FIFO from the first step)
                await self._masks(camera_id, version)
        except StoreUnavailable as exc:
            # The other hubs keep the camera's viewers held (masks pending) until they hear: closed, not open.
            log.warning("camera %s: the masks' confirmation was not shared (%s)", camera_id, exc)

    @guard
    async def _masks(self, camera_id: str, version: int) -> None:
        keys = self._keys
        channel = self._store.keys.bus(BUS_TOPIC)
        await self._write_masks(
            keys=[self._store.keys.owner(camera_id), keys.masks_applied, keys.masks_seq, channel],
            args=[self.node, int(version), camera_id],
        )

    async def _ask(
        self, to: str, command: dict[str, Any], expect: set[str], timeout: float
    ) -> dict[str, dict[str, Any]]:
        """Send a command and gather the answers of the `expect`ed hubs (node -> answer) until `timeout`."""
        ident = secrets.token_urlsafe(12)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers[ident] = queue
        answers: dict[str, dict[str, Any]] = {}
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
                await self._store.publish_raw(
                    BUS_TOPIC, {**command, "type": "command", "id": ident, "from": self.node, "to": to}
                )
                while not expect <= set(answers):
                    answer = await queue.get()
                    answers[str(answer.get("from"))] = answer
        except (TimeoutError, StoreUnavailable) as exc:
            log.warning("cluster %s: %d of %d hubs answered (%s)", command["op"], len(answers), len(expect),
                        type(exc).__name__)  # fmt: skip
        finally:
            self._answers.pop(ident, None)
        return answers

    async def _carry_out(self, message: dict[str, Any]) -> None:
        """Another hub's command: do it here and answer."""
        op, answer = message.get("op"), {"type": "reply", "id": message.get("id"), "from": self.node,
                                         "to": message.get("from")}  # fmt: skip
        if op == "end":
            at, note = message.get("at"), message.get("note")
            ended = await end_here(
                self._streams,
                self._registry,
                Match.from_json(message.get("match") or {}),
                str(message.get("reason") or "ended"),
                note=note if isinstance(note, str) else None,
                at=float(at) if isinstance(at, int | float) else None,
            )
            answer["ended"] = ended
        elif op == "snapshot":
            try:
                jpeg = await snapshot(self._streams.stream(str(message.get("camera"))).control)
                answer["jpeg"] = base64.b64encode(jpeg).decode()
            except CameraOffline as exc:
                answer.update(error=str(exc), reason=exc.reason)
        else:
            log.info("cluster: ignoring an unknown command")
            return
        await self._store.publish_raw(BUS_TOPIC, answer)

    # Keeping this hub's entries --------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._keep(), name="cluster-keep"),
            asyncio.create_task(self._follow(), name="cluster-follow"),
            asyncio.create_task(self._poll(), name="cluster-poll"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(StoreUnavailable):
            await self._withdraw_entries()

    @guard
    async def _withdraw_entries(self) -> None:
        """This hub stops: its entries go now, not when the lease runs out."""
        async with self._store.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.views(self.node), self._keys.node(self.node))
            pipe.srem(self._keys.nodes, self.node)
            await pipe.execute()
        await self._store.publish_raw(BUS_TOPIC, {"type": "views", "node": self.node, "cameras": []})

    async def _keep(self) -> None:
        """Write this hub's entries when its viewers or agents change, and renew them every third of the lease."""
        with self._live.subscribe(lambda change: change.topic in ("watchers", "streams")) as changes:
            failing = False
            while True:
                await changes.wait(self._lease / 3)
                changes.take()
                try:
                    await self._write()
                    failing = False
                except StoreUnavailable as exc:
                    if not failing:
                        log.warning("cluster: this hub's live views not written (%s); retrying", exc)
                    failing = True
                    self._written = None
                    await asyncio.sleep(RETRY_SECONDS)
                except Exception:
                    log.exception("cluster: writing this hub's live views failed")
                    self._written = None
                    await asyncio.sleep(RETRY_SECONDS)

    async def _write(self) -> None:
        views = {view.id: json.dumps(view.to_json()) for view in views_here(self._streams, self.node)}
        agents = agents_here(self._streams)
        before = self._written
        changed = _changed_cameras(before, views, agents)
        self._seq += 1
        lease = json.dumps({"node": self.node, "url": self._url, "agents": agents, "seq": self._seq})
        await self._store_entries(views, lease)
        self._written = (views, agents)
        for camera_id in set(agents) - set(before[1] if before is not None else {}):
            await self._tell_agent(camera_id)  # newly connected here: who watches from elsewhere
        if changed:
            await self._store.publish_raw(BUS_TOPIC, {"type": "views", "node": self.node, "cameras": sorted(changed)})

    @guard
    async def _store_entries(self, views: dict[str, str], lease: str) -> None:
        keys = self._keys
        pairs = [item for pair in views.items() for item in pair]
        ttl_ms = max(1, math.ceil(self._lease * 1000))
        await self._write_entries(
            keys=[keys.views(self.node), keys.node(self.node), keys.nodes], args=[ttl_ms, lease, self.node, *pairs]
        )

    # Following the other hubs ----------------------------------------------------------------------------
    async def _follow(self) -> None:
        while True:
            try:
                async for message in self._store.subscribe_raw(BUS_TOPIC):
                    await self._on_message(message)
            except StoreUnavailable:
                self._ready.clear()
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                self._ready.clear()
                log.exception("cluster: following the other hubs failed; following again")
                await asyncio.sleep(RETRY_SECONDS)

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type") or message.get("kind")
        if kind == "subscribed":
            self._ready.set()
            # Pub/sub may have lost messages before: read everything again.
            await self._reread()
            await self._reread_masks()
        elif message.get("from") == self.node or message.get("node") == self.node:
            return
        elif kind == "views":
            await self._reread()
        elif kind == "command" and message.get("to") in (self.node, "*"):
            self._streams.spawn(self._carry_out(message), f"cluster-{message.get('op')}")
        elif kind == "reply" and message.get("to") == self.node:
            queue = self._answers.get(str(message.get("id")))
            if queue is not None:
                queue.put_nowait(message)
        elif kind == "masks":
            self._apply_masks(message.get("camera"), message.get("value"))

    async def _poll(self) -> None:
        """Read the other hubs' entries again every third of the lease: a dead hub's views go when its lease does."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._reread()
            except StoreUnavailable:
                continue
            except Exception:
                log.exception("cluster: reading the other hubs' entries failed")

    async def _reread(self) -> None:
        """Read the other hubs' entries; tell this hub's pages and agents what changed."""
        async with self._reread_lock:
            before = self._others
            after = self._others = await self._read()
        changed_views = _diff(_camera_views(before[0]), _camera_views(after[0]))
        changed_agents = _diff(_camera_agents(before[1]), _camera_agents(after[1]))
        for camera_id in sorted(changed_views):
            self._live.publish("watchers", camera=camera_id)
            await self._tell_agent(camera_id)
        for camera_id in sorted(changed_agents):
            self._live.publish("streams", camera=camera_id)

    async def _tell_agent(self, camera_id: str) -> None:
        """The camera's agent, if connected here, hears who watches it on the other hubs too."""
        stream = self._streams.stream(camera_id)
        stream.elsewhere = [
            view.watching()
            for entries in self._others[0].values()
            for view in sorted(entries.values(), key=lambda v: v.started)
            if view.camera == camera_id
        ]
        if stream.control is not None:
            await stream.control.send(stream.watchers_message("watchers"))

    async def _reread_masks(self) -> None:
        raw = await self._hgetall(self._keys.masks_applied)
        for camera_id, value in raw.items():
            with contextlib.suppress(ValueError):
                self._apply_masks(camera_id, json.loads(value))

    @guard
    async def _hgetall(self, key: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in (await self._store.client.hgetall(key)).items()}

    def _apply_masks(self, camera_id: object, value: object) -> None:
        """Another hub's agent confirmed a mask version: this hub's gates of the camera follow (unless the agent is
        connected here, whose own word counts)."""
        if not isinstance(camera_id, str) or not isinstance(value, dict):
            return
        version, seq = value.get("version"), value.get("seq")
        if not isinstance(version, int) or not isinstance(seq, int) or seq <= self._masks_seq.get(camera_id, 0):
            return
        self._masks_seq[camera_id] = seq
        if value.get("node") != self.node and self._streams.stream(camera_id).control is None:
            self._registry.masks_confirmed(camera_id, version)


def _views(node: str, entries: dict[str, str]) -> dict[str, LiveView]:
    views = {}
    for viewer_id, value in entries.items():
        try:
            views[str(viewer_id)] = LiveView.from_json(json.loads(value))
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: skipping a malformed live view of hub %s", node)
    return views


def _agents(node: str, lease: str) -> dict[str, str]:
    try:
        agents = json.loads(lease).get("agents") or {}
    except (ValueError, AttributeError):
        log.warning("cluster: skipping hub %s's malformed entry", node)
        return {}
    return {str(k): str(v) for k, v in agents.items()} if isinstance(agents, dict) else {}


def _names(match: Match, view: LiveView) -> bool:
    """Whether `match`'s criteria name `view` (the session is not in the directory: a session match names views
    by the account the caller gives alongside, or by ids)."""
    if match.camera is None and match.account is None:
        return False
    return (match.camera is None or view.camera == match.camera) and (
        match.account is None or view.account == match.account
    )


def _camera_views(views: dict[str, dict[str, LiveView]]) -> dict[str, set[str]]:
    cameras: dict[str, set[str]] = {}
    for entries in views.values():
        for view in entries.values():
            cameras.setdefault(view.camera, set()).add(view.id)
    return cameras


def _camera_agents(agents: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    cameras: dict[str, set[str]] = {}
    for node, statuses in agents.items():
        for camera_id, status in statuses.items():
            cameras.setdefault(camera_id, set()).add(f"{node}:{status}")
    return cameras


def _diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> set[str]:
    return {c for c in set(before) | set(after) if before.get(c, set()) != after.get(c, set())}


def _changed_cameras(
    before: tuple[dict[str, str], dict[str, str]] | None, views: dict[str, str], agents: dict[str, str]
) -> set[str]:
    """The cameras whose views or agents on this hub changed since the last write (all of them after none)."""
    old_views, old_agents = before if before is not None else ({}, {})
    cameras: set[str] = set()
    for viewer_id in set(old_views) ^ set(views):
        value = views.get(viewer_id) or old_views[viewer_id]
        cameras.add(str(json.loads(value)["camera"]))
    cameras |= {c for c in set(old_agents) | set(agents) if old_agents.get(c) != agents.get(c)}
    if before is None:
        cameras |= {str(json.loads(v)["camera"]) for v in views.values()} | set(agents)
    return cameras
