"""eSMS facts: endpoint paths, request body, and what each CodeResult means for a run.

Everything here comes from eSMS's own pages (the send endpoint's page and
its reference of codes); nothing here does I/O.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from batch_sender.i18n import N_

DEFAULT_BASE_URL = "https://rest.esms.vn"
SEND_PATH = "/MainService.svc/json/SendZaloFollowerMessage_V5_post_json/"
BALANCE_PATH = "/MainService.svc/json/GetBalance_json"
DEFAULT_STATUS_BASE_URL = "https://status-sms.esms.vn"
GET_CALLBACK_PATH = "/ZaloCallback/GetCallback"
GET_CALLBACK_BATCH = 200
GET_CALLBACK_RATE = 20
LIST_OA_PATH = "/MainService.svc/json/ZNS/GetListZOA/"
QUERY_UID_PATH = "/MainService.svc/json/QueryListUID/"
QUERY_UID_PAGE = 50
"""UIDs per QueryListUID call at most (Count)."""
QUERY_UID_MAX_OFFSET = 9950
"""The last Offset QueryListUID takes: one query lists at most 10,000 UIDs."""
QUERY_UID_DATE = "%d/%m/%Y"

ACCEPTED = "100"
ALREADY_ACCEPTED = "124"
"""RequestId used within 24 h: proof of acceptance only if our own earlier request with it
may have reached eSMS (see Sender._outcome)."""

RETRYABLE_CODES = frozenset({"105", "160"})
"""Not yet known (105) and over the requests-per-second limit (160): try again later."""

ACCOUNT_CODES: dict[str, str] = {
    "101": N_("eSMS refused the ApiKey/SecretKey (101): check {env:api_key} and {env:secret_key}"),
    "102": N_("the account has no price list (102): ask eSMS to set one up"),
    "103": N_("the account balance is too low (103): top up the account, then rerun"),
    "104": N_("eSMS does not know the sender (104): check the account's Zalo OA set-up"),
    "118": N_("the account may not send this message type (118): ask eSMS to enable Zalo OA"),
    "140": N_("this machine's IP is not on the account's allow-list (140): add it in eSMS"),
    "143": N_("the eSMS account is inactive or locked (143): contact eSMS"),
    "204": N_("the OAID does not exist (204): check {setting:oaid}"),
    "799": N_("the OAID is inactive, wrong, or not linked to the account (799): check {opt:oaid}"),
}
"""Codes about the account, not the row: every further row would fail the same way."""


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    oaid: str


@dataclass(frozen=True)
class Message:
    """One row's message, as validated."""

    line: int
    request_id: str
    user_id: str
    text: str
    url: str
    row_key: str = ""
    """Which sheet row it is, across edits of the sheet (see validate.Validator._row_keys)."""
    content_id: str = ""
    """The RequestId of its content's first try (request_id, unless derived from it)."""


@dataclass(frozen=True)
class SendOptions:
    callback_url: str | None = None
    sandbox: bool = False
    send_date: str | None = None


def send_body(credentials: Credentials, message: Message, options: SendOptions) -> dict[str, Any]:
    """The JSON body exactly as the endpoint page shows it, plus RequestId."""
    body: dict[str, Any] = {
        "ApiKey": credentials.api_key,
        "SecretKey": credentials.secret_key,
        "OAID": credentials.oaid,
        "Payload": {
            "recipient": {"user_id": message.user_id},
            "message": {
                "text": message.text,
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": media_type(message.url), "url": message.url}],
                    },
                },
            },
        },
        "RequestId": message.request_id,
    }
    if options.callback_url:
        body["CallbackUrl"] = options.callback_url
    if options.sandbox:
        body["Sandbox"] = "1"
    if options.send_date:
        body["SendDate"] = options.send_date
    return body


def media_type(url: str) -> str:
    """eSMS's media_type for an image URL: "gif" (animated) for a .gif, else "image"."""
    path = urllib.parse.urlsplit(url).path
    return "gif" if path.lower().endswith(".gif") else "image"


def balance_body(credentials: Credentials) -> dict[str, str]:
    """GetBalance_json's body; ZNS/GetListZOA takes the same."""
    return {"ApiKey": credentials.api_key, "SecretKey": credentials.secret_key}


def get_callback_body(credentials: Credentials, smsids: list[str]) -> dict[str, Any]:
    """GetCallback's body: ListRefid holds eSMS's SMSIDs (its "ReferenceId")."""
    return {
        "ApiKey": credentials.api_key,
        "SecretKey": credentials.secret_key,
        "ListRefid": smsids,
        "OAId": credentials.oaid,
    }


class Verdict(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RETRY = "retry"
    ACCOUNT = "account"


_SURROGATE = re.compile("[\ud800-\udfff]")


def outside_text(value: object) -> str:
    """Text that came from outside, storable: JSON's "\\ud800" decodes to a lone
    surrogate that UTF-8 (the journal, the result file, the terminal) refuses."""
    return _SURROGATE.sub("\ufffd", str(value))


def redacted(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without the account's keys: servers and gateways echo the request back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Answer:
    """What eSMS answered to one request (CodeResult kept as the string it sent)."""

    code: str
    smsid: str = ""
    message: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            code=outside_text(data["CodeResult"]).strip(),
            smsid=outside_text(data.get("SMSID") or ""),
            message=outside_text(data.get("ErrorMessage") or ""),
        )

    def without(self, *secrets: str) -> Answer:
        """The answer with `secrets` taken out of what it says."""
        return replace(
            self, smsid=redacted(self.smsid, secrets), message=redacted(self.message, secrets)
        )

    @property
    def verdict(self) -> Verdict:
        if self.code in (ACCEPTED, ALREADY_ACCEPTED):
            return Verdict.ACCEPTED
        if self.code in RETRYABLE_CODES:
            return Verdict.RETRY
        if self.code in ACCOUNT_CODES:
            return Verdict.ACCOUNT
        return Verdict.REJECTED
