"""The pages' icons: /icons/<name> for the files in web/icons, and /favicon.ico.

Only plain names of SVG and PNG files in that one folder are served (no path can leave it, no other kind of file
goes out). Browsers ask for /favicon.ico by themselves (for the API's JSON opened in a tab, say) even though every
page links its icon: it answers with the same SVG, which they take by its content type.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth.identity import public

ICON_DIR = Path(__file__).resolve().parent.parent / "web" / "icons"
FAVICON = "porchlight.svg"
TYPES = {".svg": "image/svg+xml", ".png": "image/png"}


def add_icon_routes(router: web.UrlDispatcher) -> None:
    """Serve /icons/<name> and /favicon.ico."""
    router.add_get("/icons/{name}", icon)
    router.add_get("/favicon.ico", favicon)


@public
async def icon(request: web.Request) -> web.FileResponse:
    """GET /icons/<name>: an SVG or PNG icon from web/icons, or 404."""
    return _icon_file(request.match_info["name"])


@public
async def favicon(request: web.Request) -> web.FileResponse:
    """GET /favicon.ico: the Porchlight mark (SVG)."""
    return _icon_file(FAVICON)


def _icon_file(name: str) -> web.FileResponse:
    path = ICON_DIR / name
    kind = TYPES.get(path.suffix)
    if kind is None or "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": kind})
