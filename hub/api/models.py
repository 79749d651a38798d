"""What the consent routes read from a request: who acts (`who`) and the JSON body, as small typed models. Unknown
keys, wrong types and bad values get a 400 that names the field (`bad_<field>`, or the reason a model maps it to)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hub.api.body import json_body
from hub.auth.identity import ensure_identity
from hub.consent.actions import Who
from hub.errors import BadRequest
from hub.text import clean_text
from hub.timefmt import parse_time

MAX_FIELD = 200


def _time(value: object) -> float:
    return parse_time(value)


def _free_text(limit: int) -> BeforeValidator:
    # Shown to the camera's owner: one line of visible text (hub/text.py), named by its field in the refusal.
    return BeforeValidator(lambda value, info: clean_text(value, info.field_name or "text", limit))


Time = Annotated[float, BeforeValidator(_time)]
FreeText = Annotated[str, _free_text(MAX_FIELD)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Body(BaseModel):
    """A request body: strict types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # The refusal reason for a bad field, where it is not `bad_<field>`.
    REASONS: ClassVar[dict[str, str]] = {}


class OptIn(Body):
    """POST /api/cameras/{id}/grant: `duration_seconds` null means until the pilot ends; `agencies` null: all;
    `audio` true shares the camera's audio too (a consent of its own, off unless asked); `extend` true lengthens
    the live grant (same agencies and audio) instead of opening a new one."""

    duration_seconds: Seconds | None = None
    agencies: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = None
    audio: bool = False
    extend: bool = False
    REASONS: ClassVar[dict[str, str]] = {"duration_seconds": "bad_duration"}


class AudioSwitch(Body):
    """PUT /api/cameras/{id}/grant/audio: turn audio on or off on the live grant (the video is untouched)."""

    audio: bool


class PilotWindow(Body):
    """PUT /api/pilot: ISO 8601 times (with a zone) or Unix seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # times come as text or numbers
    starts_at: Time
    ends_at: Time
    REASONS: ClassVar[dict[str, str]] = {"starts_at": "bad_time", "ends_at": "bad_time"}


class PolicyBody(Body):
    """PUT /api/policy."""

    max_grant_seconds: Seconds
    REASONS: ClassVar[dict[str, str]] = {"max_grant_seconds": "bad_policy"}


class AccessAsk(Body):
    """POST /api/cameras/{id}/requests (officer)."""

    case: FreeText
    reason: FreeText
    duration_seconds: Seconds
    urgent: bool = False
    REASONS: ClassVar[dict[str, str]] = {"duration_seconds": "bad_duration"}


class MasksBody(Body):
    """PUT /api/cameras/{id}/masks: the polygons are checked by `hub.media.masks.validate_masks`."""

    masks: list[Any]
    REASONS: ClassVar[dict[str, str]] = {"masks": "bad_masks"}


M = TypeVar("M", bound=Body)


async def parse(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`; 400 naming the first bad field otherwise."""
    data = await json_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "body"
        reason = model.REASONS.get(field, f"bad_{field}")
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required"
        raise BadRequest(f"{field}: {message}", reason) from None


def who(request: web.Request) -> Who:
    """The logged-in caller, as the consent actions and their records name them."""
    return Who(ensure_identity(request).account, request.remote)
