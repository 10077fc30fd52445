"""One message's delivery report, as eSMS shows it: the callback GET and the GetCallback record.

Built like the pages' samples: the GET's parameters in the order of the
sample of its style (RequestId empty, error_info encoded as each one shows
it); the GetCallback record in PascalCase with numbers as numbers.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import yarl

INACTIVE = (
    "User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors"
)
"""Zalo's -114, word for word as the pages' samples show it."""


def encode_error_info(style: str, text: str) -> str:
    """error_info as it stands in the GET of the pages' sample of that style."""
    if style == "zns":
        # Zalo's JSON as a JSON string literal, { and } left as they are.
        return urllib.parse.quote(json.dumps(text, ensure_ascii=False), safe="{}")
    if style == "uid":
        return urllib.parse.quote(text, safe="{}")
    # Encoded twice, the first time leaving : , / alone.
    return urllib.parse.quote(urllib.parse.quote(text, safe=":,/"), safe="")


@dataclass(frozen=True)
class Report:
    """One message's delivery report, as the callback GET and as a GetCallback record."""

    smsid: str
    user_id: str
    failed: bool
    partner_id: str
    oaid: str
    price: int
    stamp: str
    """eSMS's clock, dd/MM/yyyy HH:mm:ss (Vietnam)."""
    style: str
    callback_url: str
    waiting: bool = False
    """Not sent to Zalo yet (SendStatus 2): GetCallback's answer before the verdict."""

    @property
    def charged(self) -> int:
        """The pages' failed samples cost 0.0000: Zalo's refusal is not charged."""
        return 0 if self.failed else self.price

    def zalo(self) -> dict[str, Any]:
        """Zalo's answer as the pages' samples carry it."""
        if self.failed:
            return {"error": -114, "message": INACTIVE}
        if self.style == "uid":
            delivered = "The message was delivered to the user's phone"
            return {
                "error": 0,
                "message": "Success",
                "data": {"delivery_time": None, "message": delivered, "status": 1},
            }
        ids = {"message_id": self.partner_id, "user_id": self.user_id}
        return {"data": ids, "error": 0, "message": "Success"}

    def query(self) -> str:
        """The GET's query string, parameter for parameter as the page's sample of the style."""
        zalo = json.dumps(self.zalo(), separators=(",", ":"), ensure_ascii=False)
        sent, failed = ("0", "1") if self.failed else ("1", "0")
        price = f"{self.charged:.4f}"
        counts = [
            ("SMSID", self.smsid),
            ("SendFailed", failed),
            ("SendStatus", "5"),
            ("SendSuccess", sent),
            ("TotalPrice", price),
            ("TotalReceiver", "1"),
            ("TotalSent", "1"),
            ("RequestId", ""),
        ]
        if self.style == "zns":
            info = encode_error_info("zns", zalo)
            tail = [
                ("TypeId", "25"),
                ("telcoid", "2"),
                ("phonenumber", self.user_id),
                ("partnerids", ""),
                ("error_info", info),
                ("oaid", self.oaid),
                ("tempid", ""),
            ]
        elif self.style == "uid":
            info = encode_error_info("uid", zalo)
            tail = [
                ("TypeId", "25"),
                ("telcoid", "9"),
                ("phonenumber", self.user_id),
                ("error_info", info),
                ("oaid", self.oaid),
                ("tempid", ""),
                ("partnerids", self.partner_id),
            ]
        else:
            info = encode_error_info("follower", f"{zalo}____{self.stamp}")
            tail = [
                ("TypeId", "26"),
                ("phonenumber", self.user_id),
                ("error_info", info),
                ("oaid", self.oaid),
                ("partnerids", self.partner_id),
            ]
        return "&".join(
            f"{k}={urllib.parse.quote(v, safe='') if k != 'error_info' else v}"
            for k, v in counts + tail
        )

    def url(self) -> str:
        base = str(yarl.URL(self.callback_url))
        return base + ("&" if "?" in base else "?") + self.query()

    def record(self) -> dict[str, Any]:
        """A Data_callback record: the page's fields, casing and JSON types."""
        zalo = json.dumps(self.zalo(), separators=(",", ":"), ensure_ascii=False)
        done = not self.waiting
        return {
            "SMSID": self.smsid,
            "SendFailed": int(self.failed),
            "SendSuccess": int(done and not self.failed),
            "SendStatus": 5 if done else 2,
            "TotalPrice": float(self.charged),
            "TotalReceiver": 1,
            "TotalSent": int(done),
            "RequestId": None,
            "TypeId": 26,
            "Telcoid": 0,
            "PhoneNumber": self.user_id,
            "CallbackUrl": self.callback_url,
            "Partnerids": self.partner_id,
            # The page's sample: Zalo's JSON, then eSMS's own text stuck to it.
            "ErrorInfo": (zalo if done else "")
            + ("Object reference not set to an instance of an object." if self.failed else ""),
            "OAId": self.oaid,
            "ZnsTempId": "",
        }
