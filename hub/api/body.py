"""Reading JSON request bodies with clear 400s."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.errors import BadRequest, TooLarge

MAX_JSON = 16 * 1024


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (an empty body reads as {}); 400 or 413 otherwise."""
    if request.content_length is not None and request.content_length > MAX_JSON:
        raise TooLarge("the request body is too large")
    raw = await request.content.read(MAX_JSON + 1)
    if len(raw) > MAX_JSON:
        raise TooLarge("the request body is too large")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("the body is not valid JSON", "malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "malformed_json")
    return data
