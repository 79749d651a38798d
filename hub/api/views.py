"""A camera's owner stops one officer's live view of it, without withdrawing consent from everyone.

`DELETE /api/cameras/{camera_id}/views/{viewer_id}` (the owner only): the view ends now through the consent actions
(`ConsentActions.end_view`, which says in what order, and why): no frame after it, the officer's tile says "The
owner stopped your view", and a session.ended record names the owner as its actor. Someone else's camera answers
as an unknown one (404), and a view of another camera as an unknown view: an owner can end only views of their own
cameras.

The officer is barred from that camera for the rest of the grant: every other view of theirs of it ends too, and a
new one is refused (403 `stopped_by_owner`) on every hub, until the owner shares again (a new opt-in) or approves
a request, which is a new grant. Turning audio on or off keeps the grant, and the bar. Other officers, of the same
agency too, watch on. The view may be on any hub (another hub's is ended by that hub, asked over the cluster's
bus). The answer: `{"ended": <viewer id>, "views": <how many views of the officer ended, on every hub>,
"barred": true|false, "barred_until": <the grant's end, ISO 8601, or null>}`; `barred` is false only if the store
could not write the bar (this hub still holds it; the view ended all the same).
"""

from __future__ import annotations

from aiohttp import web

from hub.api.models import who
from hub.auth.identity import ensure_owner, ensure_role
from hub.errors import Missing
from hub.keys import ACTIONS, STORE
from hub.store.base import Role
from hub.timefmt import iso


async def end_view(request: web.Request) -> web.Response:
    """DELETE: stop one live view of one of my cameras now and bar its officer from the camera until my next grant
    (its id as `GET /api/cameras` lists it in `watching`)."""
    identity = ensure_role(request, Role.RESIDENT)
    camera = await request.app[STORE].get_camera(request.match_info["camera_id"])
    ensure_owner(identity, camera)
    viewer_id = request.match_info["viewer_id"]
    stop = await request.app[ACTIONS].end_view(camera.id, viewer_id, camera.owner_id, who(request))
    if stop is None:
        raise Missing("no such live view of this camera", "view_unknown")
    until = stop.barred_until
    answer = {"ended": viewer_id, "views": stop.views, "barred": until is not None, "barred_until": iso(until)}
    return web.json_response(answer)
