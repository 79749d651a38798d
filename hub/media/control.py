"""The control WebSocket of a camera's agent: the hub says when to publish and when to stop.

Messages hub -> agent (JSON text): `hello`, `publish` {watchers, viewers}, `watchers` {watchers, viewers},
`stop` {reason}, `masks` {version, masks}, `snapshot` {id}, `audio` {audio} (whether the camera's grant allows
audio: on connect and whenever it changes; the agent sends its microphone, if it has one, only while true).
Agent -> hub: `state` {publishing},
`masks_applied` {version}, `snapshot` {id, jpeg | error}, `paused` and `resumed` (the owner paused the camera
at the device, or resumed it: a pause withdraws the camera's consent on the record, as its owner would; a resume
reopens nothing). Anything else is logged and ignored.
"""

from __future__ import annotations

import json
import logging

from aiohttp import WSMsgType, web

from hub.auth.identity import bearer_token, device
from hub.auth.tokens import hash_token
from hub.consent.actions import Who
from hub.errors import Clash, Unauthorized
from hub.keys import ACTIONS, CLUSTER, LIVE, REGISTRY, ROUTER, STORE, STREAMS
from hub.media.audio_sessions import push_audio
from hub.media.masks import push_masks
from hub.media.streams import ControlLink
from hub.media.whip import authenticate_camera

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024 * 1024  # a snapshot (base64 JPEG) is the largest message


@device
async def control_ws(request: web.Request) -> web.WebSocketResponse:
    """Hold one agent's control channel open until it or the hub closes it."""
    camera = await authenticate_camera(request, request.match_info["camera_id"])
    streams = request.app[STREAMS]
    if streams.device_refused(camera.id):
        raise Unauthorized("the device token is not valid for this camera", "device_token_invalid")
    router = request.app[ROUTER]
    # The camera's stream lives on the hub its agent reached; another hub holding it sends the agent on.
    if not await router.claim(camera.id):
        raise Clash("another hub serves this camera; try the next hub", "camera_owned_elsewhere")
    ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    registry = request.app[REGISTRY]
    link = ControlLink(camera.id, ws, hash_token(bearer_token(request) or ""))
    # Until this agent confirms the owner's masks, nothing of it is forwarded.
    registry.masks_unknown(camera.id)
    # The other hubs' gates of the camera too (their relayed viewers wait for this agent's word).
    streams.spawn(request.app[CLUSTER].agent_masks(camera.id, -1), f"masks-applied-{camera.id}")
    await streams.attach_control(link)
    await push_masks(request.app, camera.id)
    await push_audio(request.app, camera.id)  # whether it may send its microphone (off unless the grant allows)
    log.info("camera %s: agent connected", camera.id)
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                _on_agent_message(request.app, link, message.data)
    finally:
        await streams.detach_control(link)
        if streams.stream(camera.id).control is None:
            await router.release(camera.id)
        log.info("camera %s: agent disconnected", camera.id)
    return ws


def _on_agent_message(app: web.Application, link: ControlLink, data: str) -> None:
    try:
        message = json.loads(data)
    except ValueError:
        log.info("camera %s: ignoring a malformed control message", link.camera_id)
        return
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "state":
        link.publishing = bool(message.get("publishing"))
    elif kind == "masks_applied" and isinstance(message.get("version"), int):
        app[REGISTRY].masks_confirmed(link.camera_id, message["version"])
        app[STREAMS].spawn(app[CLUSTER].agent_masks(link.camera_id, message["version"]), "masks-applied")
    elif kind == "paused":
        link.paused = True
        app[LIVE].publish("streams", camera=link.camera_id)  # the owner's page shows it paused
        log.warning("camera %s: paused at the camera by its owner; withdrawing its consent", link.camera_id)
        app[STREAMS].spawn(_withdraw_paused(app, link.camera_id), f"paused-{link.camera_id}")
    elif kind == "resumed":
        link.paused = False
        app[LIVE].publish("streams", camera=link.camera_id)
        log.info("camera %s: resumed at the camera; shared again only once its owner opts in", link.camera_id)
    elif kind == "snapshot" and message.get("id") in link.snapshots:
        answer = link.snapshots[message["id"]]
        if not answer.done():
            answer.set_result(message)
    else:
        log.info("camera %s: ignoring an unknown control message", link.camera_id)


async def _withdraw_paused(app: web.Application, camera_id: str) -> None:
    """A pause at the camera withdraws its consent on the record, as its owner would (`via: camera`). The agent
    says `paused` again on every connect: a grant already withdrawn is left as it is, not withdrawn again."""
    try:
        grant = await app[STORE].get_grant(camera_id)
    except Exception:
        grant = None  # unknown: withdraw all the same (it closes this hub's gates before any write)
    else:
        if grant is None or grant.revoked_at is not None:
            log.info("camera %s: no consent to withdraw for the pause", camera_id)
            return
    await app[ACTIONS].withdraw(camera_id, Who(account=None, source=None, via="camera"))
