"""Delivery status: what eSMS's callback (or its GetCallback look-up) says became of a message.

CodeResult 100 only means eSMS accepted the message. The final word comes
later as SendStatus (1 waiting for approval, 2 waiting to send, 4 rejected,
5 finished, 7 sent and report pending) with SendSuccess/SendFailed (5 with
neither counted is not an outcome: it stays pending), and for
Zalo an `error_info` such as `{"error":-114,"message":"User is inactive"}`
followed by `____dd/MM/yyyy HH:mm:ss`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from batch_sender.esms.protocol import outside_text

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
    price: str = ""
    """eSMS's TotalPrice for the message, as it reported it ("" if it did not)."""
    user_id: str = ""
    """Its phonenumber: for a message sent by UID, the follower's Zalo user_id."""
    oaid: str = ""

    @property
    def key(self) -> str:
        return self.request_id or f"smsid:{self.smsid}"


def from_report(params: Mapping[str, object], now: dt.datetime | None = None) -> Delivery:
    """A delivery from a callback's query parameters or a GetCallback record.

    Both come from eSMS's pages: the callback's names are mixed case
    (SMSID, SendStatus, error_info, ...) with every value a string; a
    GetCallback record is PascalCase (ErrorInfo) with numbers as numbers and
    RequestId null. Names are matched ignoring case and underscores.
    """
    fields = {_name(k): v for k, v in params.items()}
    smsid = _text(fields.get("smsid"))
    request_id = _text(fields.get("requestid"))
    if not smsid and not request_id:
        raise BadReport("SMSID or RequestId is required")
    status = _number(fields.get("sendstatus"))
    if status is None:
        raise BadReport("SendStatus must be a number")
    success = _number(fields.get("sendsuccess")) or 0
    failed = _number(fields.get("sendfailed")) or 0
    if status == 4 or (status == 5 and failed and not success):
        delivery = FAILED
    elif status == 5 and success:
        delivery = DELIVERED
    else:
        # 5 is "finished: SendSuccess/SendFailed tell how" (eSMS's page); with
        # neither counted it says nothing yet, so `status` asks again later.
        delivery = PENDING
    error, reported_at = parse_error_info(_text(fields.get("errorinfo")))
    error = outside_text(error)  # its JSON may decode to a lone surrogate
    if delivery == DELIVERED:
        error = ""
    when = reported_at or (now or dt.datetime.now(VIETNAM)).astimezone(VIETNAM)
    at = when.isoformat(timespec="seconds") if delivery != PENDING else ""
    return Delivery(
        request_id[:100],
        smsid[:100],
        delivery,
        error[:500],
        at,
        _price(fields.get("totalprice")),
        _text(fields.get("phonenumber"))[:100],
        _text(fields.get("oaid"))[:100],
    )


def _price(value: object) -> str:
    """TotalPrice as eSMS wrote it ("2104.0000"), or "" (the page's table says Totalprice)."""
    import decimal

    raw = "" if value is None else str(value).strip()
    try:
        amount = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        return ""
    return raw[:30] if amount.is_finite() and amount >= 0 else ""


_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_TAIL = "____"


def parse_error_info(raw: str) -> tuple[str, dt.datetime | None]:
    """Zalo's code and message, and when it happened, however eSMS wrapped them.

    The pages show error_info percent-encoded once or twice, as a JSON
    string literal (the ZNS sample), followed by `____dd/MM/yyyy HH:mm:ss`
    or not, and GetCallback's ErrorInfo with text after the JSON:
    '{"error":-114,"message":"User is inactive"}____27/11/2026 22:30:00'
    gives ('-114 User is inactive', 2026-11-27 22:30:00+07:00).
    """
    text = raw.strip()
    for _ in range(3):  # at most twice on the pages; a third layer costs nothing
        if not _ESCAPE.search(text):
            break
        text = urllib.parse.unquote(text)
    body, when = _split_tail(text)
    for _ in range(3):
        if not body.startswith('"'):
            break
        try:
            inner = json.loads(body)
        except ValueError:
            break
        if not isinstance(inner, str):
            break
        body, stamped = _split_tail(inner.strip())
        when = when or stamped
    if not body:
        return "", when
    try:
        data, _end = json.JSONDecoder().raw_decode(body)
    except ValueError:
        return body, when
    if isinstance(data, dict) and ("error" in data or "message" in data):
        code, message = data.get("error", ""), data.get("message", "")
        # What follows the JSON (GetCallback's "Object reference not set...") is
        # eSMS's own noise, not Zalo's reason.
        return f"{'' if code is None else code} {message or ''}".strip(), when
    return body, when


def _split_tail(text: str) -> tuple[str, dt.datetime | None]:
    """The text before `____`, and the time after it (eSMS's clock: Vietnam)."""
    body, found, stamp = text.rpartition(_TAIL)
    if not found:
        return text.strip(), None
    try:
        when = dt.datetime.strptime(stamp.strip(), "%d/%m/%Y %H:%M:%S").replace(tzinfo=VIETNAM)
    except ValueError:
        return text.strip(), None
    return body.strip(), when


def _name(key: str) -> str:
    return key.replace("_", "").lower()


def _text(value: object) -> str:
    return "" if value is None else outside_text(value).strip()


def _number(value: object) -> int | None:
    """eSMS's counts: "5" in a callback, 5 (or 5.0) in GetCallback."""
    try:
        return int(float(_text(value)))
    except (ValueError, OverflowError):
        return None
