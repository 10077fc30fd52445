"""What every endpoint shares: the paths it answers on, request bodies, coded answers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from aiohttp import web

BASE_SPELLINGS = ("/MainService.svc/", "/mainservice.svc/")
"""The pages write the service's base both ways (the send pages mostly MainService.svc,
the "giao dịch" and "văn bản" ones mainservice.svc)."""


def spellings(path: str) -> list[str]:
    """Every path a client copying the pages may post to: with and without the trailing
    slash (the pages end some endpoints with one, others not), in each casing of the base."""
    bare = path.rstrip("/")
    stems = [bare]
    for base in BASE_SPELLINGS:
        if bare.startswith(base):
            stems = [other + bare[len(base) :] for other in BASE_SPELLINGS]
    return [stem + tail for stem in stems for tail in ("", "/")]


async def json_body(request: web.Request) -> dict[str, Any] | None:
    # eSMS's own samples send JSON as text/plain: read the body whatever its type.
    try:
        data = json.loads(await request.text())
    except ValueError:
        return None
    except ConnectionError:
        return None  # the caller went away mid-request: nobody to answer
    return data if isinstance(data, dict) else None


def coded(codes: Counter[str], CodeResult: str, **fields: str) -> web.Response:
    """A send answer as the page's samples show it: CodeResult a string, CountRegenerate 0."""
    codes[CodeResult] += 1
    return web.json_response({"CodeResult": CodeResult, "CountRegenerate": 0, **fields})


MEDIA_TYPES = frozenset({"image", "gif"})
"""The element's media_type values the page lists: a still image, an animated gif."""


def payload_problem(payload: object) -> dict[str, str] | None:
    """The send page's rules for the Payload: a follower's user_id, a text, one image."""

    def bad(what: str) -> dict[str, str]:
        return {"CodeResult": "210", "ErrorMessage": f"Payload is invalid: {what}"}

    if not isinstance(payload, dict):
        return bad("missing")
    recipient = payload.get("recipient")
    user_id = recipient.get("user_id") if isinstance(recipient, dict) else None
    if not user_id:
        return {"CodeResult": "853", "ErrorMessage": "Zalo user_id is missing"}
    if not isinstance(user_id, str):
        return bad("user_id must be a string")
    if len(user_id) > 20:
        return {"CodeResult": "852", "ErrorMessage": "Zalo user_id is longer than 20 characters"}
    message = payload.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return bad("message.text missing")
    if len(message["text"]) > 2000:
        return bad("message.text is longer than 2000 characters")
    attachment = message.get("attachment")
    if not isinstance(attachment, dict) or attachment.get("type") != "template":
        return bad("attachment.type must be template")
    inner = attachment.get("payload")
    if not isinstance(inner, dict) or inner.get("template_type") != "media":
        return bad("template_type must be media")
    elements = inner.get("elements")
    if not isinstance(elements, list) or len(elements) != 1:
        return bad("exactly one element is required")
    element = elements[0]
    if (
        not isinstance(element, dict)
        or element.get("media_type") not in MEDIA_TYPES
        or not isinstance(element.get("url"), str)
    ):
        return bad("the element must be an image or a gif with a url")
    return None
