"""The security headers of every answer the app gives: pages, assets, API JSON, errors, event streams, metrics.

One set, added as each response is prepared (`on_response_prepare`), so no handler and no error path can forget it:
- `Content-Security-Policy`: the pages load only their own scripts, styles and connections, images from
  themselves or `data:`/`blob:` URLs (the masks page shows the camera's still picture from a blob) and, when
  `map.tile_url` names one, from the map's tile server (that origin only), video from
  `blob:`/media streams; anything else (API JSON, assets, errors) may load nothing at all. `frame-ancestors 'none'`
  in both: no other site may frame a page to trick a resident's click (clickjacking). A handler that sets a
  policy of its own (the transparency page's) keeps it.
- `X-Frame-Options: DENY` for browsers without `frame-ancestors`; `X-Content-Type-Options: nosniff`;
  `Referrer-Policy: no-referrer` (a page's URL never travels to another site);
  `Permissions-Policy` turning off what no page uses (camera, microphone, ...), geolocation for the hub's own
  pages only (the resident page's "Use my location" for a camera's position, asked only on that button);
- `Strict-Transport-Security` only when `http.secure_cookies` says the hub is served over HTTPS (directly or
  behind a proxy); a hub on plain HTTP (the demo, tests) has no business pinning its name to HTTPS.
"""

from __future__ import annotations

from aiohttp import web

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
OTHER_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(self), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=()"
)
HSTS = "max-age=31536000"


def security_headers(secure: bool) -> dict[str, str]:
    """The headers every response carries (HSTS only when `secure`), the CSP aside (see `content_policy`)."""
    headers = {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": PERMISSIONS_POLICY,
    }
    if secure:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def content_policy(content_type: str, image_origin: str | None = None) -> str:
    """The Content-Security-Policy for a response of this type: the pages' for HTML (images also from
    `image_origin`, the officer map's tile server, when one is configured), nothing-at-all otherwise."""
    if content_type != "text/html":
        return OTHER_POLICY
    if image_origin is None:
        return PAGE_POLICY
    return PAGE_POLICY.replace("img-src 'self' data: blob:;", f"img-src 'self' data: blob: {image_origin};", 1)


def install_security_headers(app: web.Application, secure: bool, image_origin: str | None = None) -> None:
    """Add the headers to every response `app` prepares (`image_origin`: see `content_policy`)."""
    fixed = security_headers(secure)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in fixed.items():
            headers[name] = value
        if response.status == 304:
            # A 304 has no body and no content type of its own: the browser keeps the cached answer's headers but
            # takes any the 304 sends, so a page reloaded from cache would get the nothing-at-all policy.
            return
        headers.setdefault("Content-Security-Policy", content_policy(response.content_type, image_origin))

    app.on_response_prepare.append(add_headers)
