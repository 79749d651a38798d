"""URLs of the hub's endpoints for one camera, and their loggable forms."""

from __future__ import annotations

from urllib.parse import quote

from yarl import URL


def endpoint(hub_url: str, *segments: str) -> URL:
    """`hub_url` (which may carry a path prefix) joined with `segments`, each percent-encoded whole."""
    base = URL(hub_url)
    path = base.raw_path.rstrip("/") + "".join("/" + quote(s, safe="") for s in segments)
    return base.with_path(path, encoded=True).with_query(None).with_fragment(None)


def control_url(hub_url: str, camera_id: str) -> URL:
    """The control WebSocket: ws:// for an http:// hub, wss:// for https://."""
    url = endpoint(hub_url, "control", camera_id)
    return url.with_scheme("wss" if url.scheme == "https" else "ws")


def hub_label(hub_url: str) -> str:
    """The hub's origin without user info or path, for log lines."""
    url = URL(hub_url)
    port = f":{url.explicit_port}" if url.explicit_port else ""
    return f"{url.scheme}://{url.host}{port}"
