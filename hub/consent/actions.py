"""The consent actions: every change that admits, ends or alters a view, in one place, whoever asks.

Each follows one rule: close in memory first (this hub's gates stop admitting before any await), write the store,
confirm (this hub's viewers ended; other hubs' gates seen closed, or the lease bound that guarantees it), then put
it on the record. The JSON API, the admin socket the CLI talks to and a camera's own pause all call these; they
only parse, call and answer. Nothing here knows about HTTP requests: who acts is passed in (`Who`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from hub.audit.events import (
    Fields,
    account_fields,
    actor,
    audio_fields,
    grant_fields,
    pilot_fields,
    policy_fields,
    request_fields,
    withdrawal_fields,
)
from hub.audit.log import AuditLog
from hub.audit.record import Kind, audit_time
from hub.auth.tokens import DEVICE_TOKEN_PREFIX, hash_token, new_token
from hub.cluster.base import ClusterState
from hub.consent.decision import Grant, Pilot, Reason, grant_end
from hub.consent.registry import GateRegistry
from hub.errors import BadRequest, Clash
from hub.live import LiveEvents
from hub.media.streams import StreamManager
from hub.notify import answer_tokens
from hub.routing.base import Router
from hub.store.base import AccessRequest, Account, Conflict, NotFound, Policy, RequestState, Store
from hub.store.push_base import PushStore
from hub.store.session_ends_base import NOTE_SECONDS, EndedBecause

log = logging.getLogger(__name__)

# Why a view ended when its camera's owner ended it alone (the officer's `end` event, the view.ended record).
ENDED_BY_OWNER = "ended_by_owner"


@dataclass(frozen=True, slots=True)
class Who:
    """Who acts and from where, as the record names them. `via`: "api" (a page or client), "cli" (the admin
    socket), "camera" (a pause at the device itself: no account, no address)."""

    account: Account | None = None
    source: str | None = None
    via: str = "api"


@dataclass(frozen=True, slots=True)
class ViewStop:
    """What an owner's stop did: how many views of the officer it ended on every hub, and until when the officer is
    barred from the camera (the grant's end, unless the owner shares anew first; None if the store could not
    write the bar)."""

    views: int
    barred_until: float | None


@dataclass(frozen=True, slots=True)
class Gates:
    """What a closing action can promise: every gate seen closed (`confirmed`), or the time by which the hubs'
    leases guarantee it (`closed_by`)."""

    confirmed: bool
    closed_by: float
    # The hubs that carried the camera (its owner, and each relaying it), where a closure names them.
    hubs: tuple[str, ...] = ()
    # Whether the write reached the replicas the store waits for (store.redis_wait_replicas); None: none waited for.
    replicated: bool | None = None
    # How many live views the action ended, on every hub (a withdrawal; None where it does not say).
    views_ended: int | None = None


class ConsentActions:
    """The consent actions of one hub, over its store, gates, streams, router and audit log."""

    def __init__(
        self,
        store: Store,
        registry: GateRegistry,
        streams: StreamManager,
        router: Router,
        audit: AuditLog,
        live: LiveEvents,
        *,
        lease_seconds: float,
        cluster: ClusterState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.registry, self.streams, self.router = store, registry, streams, router
        # The other hubs' views: this hub's actions end them too (hub.cluster), and count them.
        self.cluster = cluster
        self._audit, self._live, self._lease, self._clock = audit, live, lease_seconds, clock

    async def record(self, kind: Kind, fields: Fields, who: Who) -> None:
        """Put an action on the record, after its effect: a closing action never waits on the log to take effect,
        and its record is kept and retried in the background if the log is down."""
        if who.via != "api":
            fields = {**fields, "via": who.via}
        await self._audit.append(kind, fields, actor=actor(who.account), source=who.source, required=False)

    async def _replicated(self) -> bool | None:
        """After a consent-closing write: whether it reached the store's replicas (Redis WAIT, bounded; None if the
        store waits for none). Never raises: the gates closed before the write and stay closed either way."""
        wait = getattr(self.store, "wait_for_replicas", None)
        return None if wait is None else cast(bool | None, await wait())

    def _local(self, written_at: float) -> Gates:
        """Gates for a change other hubs apply as they receive it (or their lease closes them meanwhile)."""
        if self.router.single_hub:
            return Gates(confirmed=True, closed_by=written_at)
        return Gates(confirmed=False, closed_by=written_at + self._lease)

    # Grants ----------------------------------------------------------------------------------------------
    async def open_grant(
        self,
        camera_id: str,
        owner_id: int,
        duration: float | None,
        agencies: frozenset[str] | None,
        who: Who,
        audio: bool = False,
        extend: bool = False,
    ) -> Grant:
        """Opt a camera in from now for `duration` seconds (None: until the pilot ends), capped by the policy and
        the pilot; a new grant replaces the old one and belongs to the running pilot. Audio only if `audio`.

        With `extend`, the live grant is lengthened to end `duration` from now: the written grant keeps its
        `starts_at`, which is what makes it the same consent (an officer the owner stopped stays barred: bars are
        keyed to it). Only for the same agencies and audio; Clash when nothing is live."""
        if agencies:
            known = {agency.id for agency in await self.store.list_agencies()}
            if unknown := sorted(agencies - known):
                raise BadRequest(f"unknown agencies: {', '.join(unknown)}", "bad_agencies")
        now = self._clock()
        pilot, policy = await self.store.get_pilot(), await self.store.get_policy()
        ends_at = _grant_end(now, duration, policy, pilot)
        starts_at, replacing = now, None
        if extend:
            current = self.registry.gate(camera_id).state.grant
            if current is None or askable(current, now) or pilot is None or current.pilot_run != pilot.run:
                raise Clash("the camera is not shared now: there is nothing to extend", "not_opted_in")
            if current.agencies != agencies or current.audio != audio:
                raise BadRequest("an extension keeps the grant's agencies and audio", "extend_changes_scope")
            # It lengthens the grant it read, or nothing: a withdrawal from another page that lands between that
            # read and the write below must not be overwritten by the camera shared again.
            starts_at, replacing = current.starts_at, current.version
        try:
            grant = await self.store.put_grant(camera_id, starts_at, ends_at, agencies, audio, replacing=replacing)
        except Conflict:
            raise Clash("the camera's consent changed meanwhile: nothing was extended", "grant_changed") from None
        self.registry.apply_grant(grant, camera_id, settle=True)
        # A narrower agency list may shut out viewers who were watching under the old grant.
        await self.streams.sweep()
        await self.record(Kind.CONSENT_GRANTED, grant_fields(grant, owner_id), who)
        return grant

    async def withdraw(self, camera_id: str, who: Who, owner_id: int | None = None) -> tuple[Grant | None, Gates]:
        """Withdraw the camera's consent now: its gates on this hub close before anything is awaited, its viewers
        are ended and its agent told to stop; returns once the hub that streams it confirmed (or the lease bound)."""
        now = self._clock()
        self.registry.close_camera(camera_id, now)  # holds even if the store write below fails
        # Taken before the write: views another hub's gate ends before this hub's command arrives count too.
        elsewhere, here = self.cluster.match(camera=camera_id), len(self.streams.stream(camera_id).viewers)
        token = await self.router.expect_closure(camera_id)
        try:
            grant = await self.store.revoke_grant(camera_id, now)
            self.registry.apply_grant(grant, camera_id, settle=True)
        finally:
            await self.streams.end_camera(camera_id, Reason.WITHDRAWN.value, now)
        closure, ended = await asyncio.gather(
            self.router.await_closure(token, grant.version if grant else 0, now),
            self.cluster.end_elsewhere(elsewhere, Reason.WITHDRAWN.value, at=now),
        )
        gates = Gates(closure.confirmed, closure.closed_by or now, closure.hubs, views_ended=here + len(ended.ids))
        gates = replace(gates, replicated=await self._replicated())
        if grant is not None:
            if owner_id is None:
                owner_id = (await self.store.get_camera(camera_id)).owner_id
            await self.record(Kind.CONSENT_WITHDRAWN, withdrawal_fields(grant, owner_id), who)
        return grant, gates

    async def set_audio(self, camera_id: str, owner_id: int, audio: bool, who: Who) -> tuple[Grant, Gates]:
        """Turn audio on or off on the camera's live grant, the video untouched. Off closes in memory first: no
        audio packet passes this hub from before the write, and the call returns once the hub that streams the
        camera confirmed (or the lease bound). On needs a live grant (Clash `not_opted_in` otherwise)."""
        now = self._clock()
        if self.registry.gate(camera_id).state.grant is None:  # grants are replaced or withdrawn, never deleted
            raise Clash("the camera is not opted in", "not_opted_in")
        if not audio:
            self.registry.close_audio(camera_id)  # holds even if the store write below fails
            token = await self.router.expect_closure(camera_id)
            try:
                grant = await self.store.set_grant_audio(camera_id, False)
            except BaseException:
                self.registry.audio_write_failed(camera_id)
                raise
            self.registry.audio_settled(camera_id, grant)
            # As a withdrawal: confirmed by the hub that streams the camera once its gates hold this version.
            closure = await self.router.await_closure(token, grant.version if grant else 0, now)
            gates = Gates(closure.confirmed, closure.closed_by or now, closure.hubs)
            gates = replace(gates, replicated=await self._replicated())
            if grant is None:
                raise Clash("the camera is not opted in", "not_opted_in")
        else:
            current = self.registry.gate(camera_id).state.grant
            if current is None or askable(current, now):
                raise Clash("the camera is not opted in: opt in (with audio) first", "not_opted_in")
            try:
                # The grant the owner saw, or none: a new grant opted in meanwhile without audio keeps it off.
                grant = await self.store.set_grant_audio(camera_id, True, replacing=current.version)
            except Conflict:
                raise Clash("the camera's consent changed meanwhile: audio stays off", "grant_changed") from None
            self.registry.audio_opened(camera_id, grant)
            if grant is None:
                raise Clash("the camera is not opted in", "not_opted_in")
            gates = self._local(now)
        await self.record(Kind.CONSENT_AUDIO, audio_fields(grant, owner_id), who)
        return grant, gates

    # The pilot and the policy ----------------------------------------------------------------------------
    async def set_pilot(self, starts_at: float, ends_at: float, who: Who) -> tuple[Pilot, Gates]:
        """Set or change the pilot's window. A shorter one closes in memory first; an end at or before now ends
        the pilot on every hub whatever its clock says. A window set after the pilot ended is a new pilot: no
        camera is shared in it until its owner opts in again."""
        if ends_at <= starts_at:
            raise BadRequest("the pilot must end after it starts", "bad_window")
        now = self._clock()
        current = self.registry.pilot
        shrinking = current is None or ends_at < current.ends_at or starts_at > current.starts_at
        if shrinking:
            self.registry.close_pilot(ends_at if starts_at <= now else now, ended=ends_at <= now or starts_at > now)
        try:
            pilot = await self.store.set_pilot(starts_at, ends_at, now)
            self.registry.apply_pilot(pilot, settle=True)
        finally:
            if shrinking:
                await self.streams.sweep(now)
        await self.record(Kind.PILOT_CHANGED, pilot_fields(pilot), who)
        gates = self._local(now)
        return pilot, replace(gates, replicated=await self._replicated()) if shrinking else gates

    async def end_pilot(self, who: Who) -> tuple[Pilot, Gates]:
        """End the pilot now, on every hub whatever its clock says."""
        now = self._clock()
        self.registry.close_pilot(now, ended=True)  # stays closed if the store cannot be read
        current = await self.store.get_pilot()
        if current is None:
            self.registry.apply_pilot(None, settle=True)
            raise BadRequest("there is no pilot to end", "no_pilot")
        return await self.set_pilot(min(current.starts_at, now), now, who)

    async def set_policy(self, max_grant_seconds: float, who: Who) -> Policy:
        """Cap every future opt-in's time box (grants already made keep theirs)."""
        policy = await self.store.set_policy(max_grant_seconds)
        self._live.publish("cameras", public=True)  # the opt-in chooser's cap changed
        await self.record(Kind.POLICY_CHANGED, policy_fields(policy), who)
        return policy

    # Accounts --------------------------------------------------------------------------------------------
    async def disable_account(self, account_id: int, who: Who) -> tuple[Account, int, Gates]:
        """Disable an account: its passes close before anything is awaited, its live views end, its sessions are
        gone. Returns the account, how many views ended and the gates' promise."""
        now = self._clock()
        self.registry.close_account(account_id)
        elsewhere = self.cluster.match(account=account_id)  # before the write, as for a withdrawal
        try:
            account = await self.store.set_account_disabled(account_id, True)
        except NotFound:
            self.registry.settle_account_unknown(account_id)
            raise
        self.registry.settle_account(account)
        ended = await self.streams.end_viewers_of(account.id, Reason.ACCOUNT_DISABLED.value)
        ended += len((await self.cluster.end_elsewhere(elsewhere, Reason.ACCOUNT_DISABLED.value)).ids)
        await self.store.note_session_ends_of(account.id, EndedBecause.BY_ADMIN, now, now + NOTE_SECONDS)
        await self.store.delete_sessions_of(account.id)
        self._live.publish("accounts", account=account.id)
        await self.record(Kind.ACCOUNT_DISABLED, account_fields(account), who)
        return account, ended, replace(self._local(now), replicated=await self._replicated())

    async def enable_account(self, account_id: int, who: Who) -> Account:
        """Enable a disabled account (its sessions ended with the disable: it logs in again)."""
        account = await self.store.set_account_disabled(account_id, False)
        self.registry.settle_account(account)
        self._live.publish("accounts", account=account.id)
        await self.record(Kind.ACCOUNT_ENABLED, account_fields(account), who)
        return account

    async def end_sessions_of(self, account_id: int, reason: str) -> int:
        """End an account's log-ins and, with them, every view they opened (on every hub); how many views ended."""
        now = self._clock()
        elsewhere = self.cluster.match(account=account_id)
        await self.store.note_session_ends_of(account_id, EndedBecause.BY_ADMIN, now, now + NOTE_SECONDS)
        await self.store.delete_sessions_of(account_id)
        await self.registry.reload_passes_of(self.store, account_id)
        ended = await self.streams.end_viewers_of(account_id, reason)
        return ended + len((await self.cluster.end_elsewhere(elsewhere, reason)).ids)

    async def end_session(self, token_hash: str, reason: str) -> int:
        """One log-in ended (log-out): nothing of it passes any more, and every view it opened ends (on every
        hub: an officer may watch through several); how many."""
        self.registry.session_gone(token_hash)
        ended = await self.streams.end_viewers_of_session(token_hash, reason)
        return ended + len((await self.cluster.end_elsewhere(self.cluster.match(session=token_hash), reason)).ids)

    async def end_view(self, camera_id: str, viewer_id: str, owner_id: int, who: Who) -> ViewStop | None:
        """The camera's owner stops one officer's live view of it now, the camera's consent untouched for everyone
        else: that officer's account is barred from the camera until the owner's next grant (a new opt-in or an
        approved request; turning audio on or off keeps the grant, and the bar). None when no such view of this
        camera is open on any hub (one on another hub is found in the cluster's list, and that hub asked to bar
        and end alongside step 3, as its own reload would).

        The order, so that a join racing the stop (the officer re-joining the instant the owner presses the
        button, here or on another hub) can never be checked before the bar and registered after the views end:
        1. In memory, before anything is awaited: this hub's gate for the camera bars the account. From here no
           frame passes to any view of theirs here (every frame asks the gate) and no join is admitted here: WHEP
           admission asks the gate on entry, after setting up the connection, and last in `streams.add_viewer`,
           with no await between that answer and the viewer joining the feed. A join past the earlier checks is
           refused there (403 `stopped_by_owner`, on the record as view.ended); every view that joined before
           this step is in the list step 2 ends, so none is left out.
        2. Still before any await: every view of that officer of this camera here stops, told `ended_by_owner`
           (the one asked for and any other); their connections close and their records are written in the
           background, alongside step 3 (neither waits on the audit log).
        3. The store writes the bar against the camera's grant as the store holds it, and moves the change
           marker: every other hub reloads, its gates refuse the officer and its sweep ends their views of the
           camera there (`stopped_by_owner`); their joins race that hub's gate as in step 1. If the write fails,
           the bar still holds here (until the camera's grant changes) and the error is raised once the views have
           ended: the owner's stop never waits on the store.
        4. The record: session.ended, the owner as its actor, `barred` (and until when) if the store wrote it.
        """
        viewer = self.streams.viewer(viewer_id)
        if viewer is not None and not viewer.ended and viewer.camera_id == camera_id:
            account_id, view_id, officer = viewer.account_id, viewer.view_id, viewer.actor
        else:
            found = await self.cluster.find(viewer_id)  # held by another hub?
            if found is None or found.camera != camera_id:
                return None
            account_id, view_id, officer = found.account, found.view, found.actor
        now = self._clock()
        self.registry.bar(camera_id, account_id)
        ending = self.streams.end_views_now(camera_id, account_id, ENDED_BY_OWNER)
        match = self.cluster.match(camera=camera_id, account=account_id, bar=True)
        elsewhere = asyncio.ensure_future(self.cluster.end_elsewhere(match, ENDED_BY_OWNER))
        bar = None
        try:
            bar = await self.store.bar_viewer(camera_id, account_id, now)
            if bar is not None:
                self.registry.apply_bar(bar)
        finally:
            views = len(await ending) + len((await elsewhere).ids)
            fields = {"camera": camera_id, "owner": owner_id, "view": view_id, "officer": officer}
            if bar is not None:
                fields = {**fields, "barred": True, "barred_until": audit_time(bar.until)}
            await self.record(Kind.SESSION_ENDED, {**fields, "ended_by": ENDED_BY_OWNER}, who)
        if bar is not None:
            await self._replicated()  # the bar, like a withdrawal, is on the replicas before the owner is answered
        return ViewStop(views, bar.until if bar is not None else None)

    # Devices ---------------------------------------------------------------------------------------------
    async def rotate_device_token(self, camera_id: str, who: Who) -> str:
        """A new device token for the camera; every control socket and WHIP session opened with the old one ends,
        on this hub at once (and refused meanwhile), on the others as the change reaches them."""
        camera = await self.store.get_camera(camera_id)
        token = new_token(DEVICE_TOKEN_PREFIX)
        token_hash = hash_token(token)
        with self.streams.rotating(camera_id):  # no new socket or session of the camera until the write lands
            await self.streams.end_device(camera_id, "device_token_rotated")
            await self.store.set_device_token(camera_id, token_hash)
        await self.record(Kind.CAMERA_TOKEN_ISSUED, {"camera": camera.id, "owner": camera.owner_id}, who)
        return token

    # Masks -----------------------------------------------------------------------------------------------
    async def set_masks(self, camera_id: str, owner_id: int, masks: list[dict[str, Any]], who: Who) -> int:
        """Replace the camera's privacy masks: its video is held now, before the store write, until its agent
        confirms it applies the new version. The new version."""
        self.registry.hold_masks(camera_id)
        try:
            version = await self.store.set_camera_masks(camera_id, masks)
        except BaseException:
            self.registry.mask_write_failed(camera_id)
            raise
        self.registry.require_masks(camera_id, version)  # and sends the agent the new masks
        fields = {"camera": camera_id, "owner": owner_id, "version": version, "polygons": len(masks)}
        await self.record(Kind.MASKS_CHANGED, fields, who)
        return version

    # Access requests -------------------------------------------------------------------------------------
    async def approve_request(self, item: AccessRequest, owner_id: int, who: Who) -> tuple[AccessRequest, Grant]:
        """The owner approves: a grant for the asking officer's agency and the duration asked (capped like every
        grant). Never replaces the owner's own opt-in."""
        now = self._clock()
        pilot, policy = await self.store.get_pilot(), await self.store.get_policy()
        ends_at = _grant_end(now, item.duration_seconds, policy, pilot)
        if not askable(self.registry.gate(item.camera_id).state.grant, now):
            raise Clash("the camera is opted in already: decline this request, or withdraw first", "camera_opted_in")
        answered = await self._answer(item, RequestState.APPROVED, now)
        agencies = frozenset({item.agency_id}) if item.agency_id else frozenset()
        grant = await self.store.put_grant(item.camera_id, now, ends_at, agencies)
        self.registry.apply_grant(grant, item.camera_id, settle=True)
        await self.streams.sweep()
        await self.record(Kind.ACCESS_APPROVED, request_fields(answered, owner_id), who)
        await self.record(Kind.CONSENT_GRANTED, grant_fields(grant, owner_id), who)
        self._live.publish("requests", camera=item.camera_id, account=item.account_id)
        return answered, grant

    async def decline_request(self, item: AccessRequest, owner_id: int, who: Who) -> AccessRequest:
        """The owner declines."""
        answered = await self._answer(item, RequestState.DECLINED, self._clock())
        await self.record(Kind.ACCESS_DECLINED, request_fields(answered, owner_id), who)
        self._live.publish("requests", camera=item.camera_id, account=item.account_id)
        return answered

    async def _answer(self, item: AccessRequest, state: RequestState, now: float) -> AccessRequest:
        try:
            answered = await self.store.answer_access_request(item.id, state, now)
        except Conflict as exc:
            reason = "request_expired" if "expired" in str(exc) else "request_answered"
            raise Clash(str(exc), reason) from None
        # Answered, by whichever path: no notification's answer token of it may answer again.
        await answer_tokens.spend_for_request(cast(PushStore, self.store), item.id, now)
        return answered


async def drop_stale_devices(store: Store, streams: StreamManager, camera_ids: list[str] | None = None) -> None:
    """End every control socket and WHIP session on this hub opened with a device token that is no longer its
    camera's (rotated on another hub, or while this one was cut off from the store)."""
    for camera_id in streams.device_cameras() if camera_ids is None else camera_ids:
        for token_hash in streams.device_tokens(camera_id):
            try:
                current = await store.camera_for_token(token_hash)
            except NotFound:
                current = None
            if current is None or current.id != camera_id:
                await streams.end_device(camera_id, "device_token_rotated", token_hash)


def askable(grant: Grant | None, now: float) -> bool:
    """Whether an officer may ask the owner for access: only while the camera is not opted in at all."""
    return grant is None or grant.revoked_at is not None or not grant.starts_at <= now < grant.ends_at


def _grant_end(now: float, duration: float | None, policy: Policy, pilot: Pilot | None) -> float:
    if pilot is None or pilot.ended or not pilot.starts_at <= now < pilot.ends_at:
        raise BadRequest("the pilot is not running, so there is nothing to opt in to", "no_pilot")
    try:
        return grant_end(now, duration, policy.max_grant_seconds, pilot)
    except ValueError as exc:
        raise BadRequest(str(exc), "bad_duration") from exc
