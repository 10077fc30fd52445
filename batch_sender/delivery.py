"""Delivery status: what eSMS's callback (or its GetCallback look-up) says became of a message.

CodeResult 100 only means eSMS accepted the message. The final word comes
later as SendStatus (1 waiting for approval, 2 waiting to send, 4 rejected,
5 finished, 7 sent and report pending) with SendSuccess/SendFailed, and for
Zalo an `error_info` such as `{"error":-114,"message":"User is inactive"}`
followed by `____dd/MM/yyyy HH:mm:ss`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

DELIVERED = "delivered"
FAILED = "failed"
PENDING = "pending"
DELIVERY_COLUMNS = ["delivery", "delivery_error", "delivered_at"]
VIETNAM = dt.timezone(dt.timedelta(hours=7))


class BadReport(ValueError):
    """The parameters are not an eSMS delivery report."""


@dataclass(frozen=True)
class Delivery:
    request_id: str
    smsid: str
    delivery: str
    error: str
    at: str
    """When the outcome happened, as eSMS reported it (ISO 8601), or when we heard of it."""

    @property
    def key(self) -> str:
        return self.request_id or f"smsid:{self.smsid}"


def from_report(params: Mapping[str, str], now: dt.datetime | None = None) -> Delivery:
    """A delivery from a callback's query parameters (or a GetCallback record)."""
    smsid = str(params.get("SMSID") or "").strip()
    request_id = str(params.get("RequestId") or "").strip()
    if not smsid and not request_id:
        raise BadReport("SMSID or RequestId is required")
    try:
        status = int(str(params.get("SendStatus", "")).strip())
    except ValueError:
        raise BadReport("SendStatus must be a number") from None
    success = _count(params.get("SendSuccess"))
    failed = _count(params.get("SendFailed"))
    if status == 4 or (status == 5 and failed and not success):
        delivery = FAILED
    elif status == 5:
        delivery = DELIVERED if success or not failed else FAILED
    else:
        delivery = PENDING
    error, reported_at = parse_error_info(str(params.get("error_info") or ""))
    if delivery == DELIVERED:
        error = ""
    when = reported_at or (now or dt.datetime.now(VIETNAM)).astimezone(VIETNAM)
    at = when.isoformat(timespec="seconds") if delivery != PENDING else ""
    return Delivery(request_id[:100], smsid[:100], delivery, error[:500], at)


def parse_error_info(raw: str) -> tuple[str, dt.datetime | None]:
    """Zalo's code and message, and when it happened.

    '{"error":-114,"message":"User is inactive"}____27/11/2026 22:30:00'
    gives ('-114 User is inactive', 2026-11-27 22:30:00+07:00).
    """
    text = urllib.parse.unquote_plus(raw) if "%" in raw else raw
    body, _, stamp = text.partition("____")
    when = None
    if stamp.strip():
        try:
            when = dt.datetime.strptime(stamp.strip(), "%d/%m/%Y %H:%M:%S").replace(tzinfo=VIETNAM)
        except ValueError:
            when = None
    body = body.strip()
    if not body:
        return "", when
    try:
        data = json.loads(body)
    except ValueError:
        return body, when
    if isinstance(data, dict):
        code, message = data.get("error", ""), data.get("message", "")
        return f"{code} {message}".strip(), when
    return body, when


def _count(value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0
