"""The map's settings (GET /api/map) and the map library's files (GET /vendor/...).

The officer's page draws its map with Leaflet and Leaflet.markercluster, installed from npm into web/vendor
(`make web-deps`). Only the files listed in `VENDOR_FILES` are served, never the rest of node_modules. Tiles come
from `map.tile_url` when configured (the page's CSP then allows images from that origin only); without one the
map shows the cameras on a plain background.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth.identity import ensure_identity, public
from hub.keys import CONFIG

VENDOR_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "vendor" / "node_modules"
JS, CSS, PNG = "text/javascript; charset=utf-8", "text/css; charset=utf-8", "image/png"
# URL path under /vendor/ -> (file under web/vendor/node_modules, content type).
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "leaflet/leaflet.js": ("leaflet/dist/leaflet.js", JS),
    "leaflet/leaflet.css": ("leaflet/dist/leaflet.css", CSS),
    **{
        f"leaflet/images/{name}": (f"leaflet/dist/images/{name}", PNG)
        for name in ("layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")
    },
    "leaflet.markercluster/leaflet.markercluster.js": ("leaflet.markercluster/dist/leaflet.markercluster.js", JS),
    "leaflet.markercluster/MarkerCluster.css": ("leaflet.markercluster/dist/MarkerCluster.css", CSS),
    "leaflet.markercluster/MarkerCluster.Default.css": ("leaflet.markercluster/dist/MarkerCluster.Default.css", CSS),
}


async def map_settings(request: web.Request) -> web.Response:
    """GET (any logged-in user): the tile server the map loads from (null: none), its attribution, the deepest
    zoom, and the widest circle an officer may ask by area."""
    ensure_identity(request)
    config = request.app[CONFIG].map
    return web.json_response(
        {
            "tile_url": config.tile_url,
            "attribution": config.attribution,
            "max_zoom": config.max_zoom,
            "area_max_radius_m": config.area_max_radius_m,
        }
    )


@public
async def vendor_file(request: web.Request) -> web.FileResponse:
    """One file of the allow-list (404 for anything else, and for a file `make web-deps` has not installed)."""
    entry = VENDOR_FILES.get(request.match_info["path"])
    if entry is None:
        raise web.HTTPNotFound()
    path = VENDOR_DIR / entry[0]
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": entry[1], "Cache-Control": "max-age=86400"})
