"""A camera's owner ends one officer's live view of it, without withdrawing consent from everyone.

`DELETE /api/cameras/{camera_id}/views/{viewer_id}` (the owner only): the view ends now through the consent actions
(`ConsentActions.end_view`): no frame after it, the officer's tile says "The owner ended your view", and a
session.ended record names the owner as its actor. Someone else's camera answers as an unknown one (404), and a
view of another camera as an unknown view: an owner can end only views of their own cameras.

The officer is not barred from starting a new view under the same grant: the grant is the owner's consent for
that agency, and a new view needs a new case number and reason and is on the record again, where the owner sees
it. To keep everyone out, the owner withdraws.
"""

from __future__ import annotations

from aiohttp import web

from hub.api.models import who
from hub.auth.identity import ensure_owner, ensure_role
from hub.errors import Missing
from hub.keys import ACTIONS, STORE
from hub.store.base import Role


async def end_view(request: web.Request) -> web.Response:
    """DELETE: end one live view of one of my cameras now (its id as `GET /api/cameras` lists it in `watching`)."""
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    viewer_id = request.match_info["viewer_id"]
    if not await request.app[ACTIONS].end_view(camera.id, viewer_id, camera.owner_id, who(request)):
        raise Missing("no such live view of this camera", "view_unknown")
    return web.json_response({"ended": viewer_id})
