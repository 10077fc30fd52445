"""SendZaloFollowerMessage_V5_post_json's verdicts, and what it keeps of accepted messages.

101 for wrong keys, 799 for another OA, 210/852/853 for the Payload, 110 for
a bad RequestId, 124 for one seen in the last 24 hours, 103 when the balance
cannot pay; else 100 with an SMSID. Sandbox requests are answered, not kept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batch_sender.esms import protocol as esms
from batch_sender.simulator.accounts import Account
from batch_sender.simulator.wire import payload_problem

RESERVED_SECONDS = 24 * 3600
"""How long eSMS blocks a RequestId it has seen."""


@dataclass(frozen=True)
class Accepted:
    smsid: str
    user_id: str
    text: str
    url: str
    sandbox: bool
    request_id: str = ""


class Sends:
    def __init__(
        self,
        account: Account,
        rng: random.Random,
        *,
        reserve_rejected: bool,
        on_callback: Callable[[Accepted, str], None],
    ) -> None:
        self.account = account
        self.rng = rng
        self.reserve_rejected = reserve_rejected
        self.on_callback = on_callback
        """Told of each accepted message that carried a CallbackUrl."""
        self.accepted: dict[str, Accepted] = {}
        """RequestId -> what was accepted; a message is delivered once per entry."""
        self.unkeyed: list[Accepted] = []
        """Accepted requests that carried no RequestId (nothing stops their repeats)."""
        self.sandboxed = 0
        """Sandbox requests answered: not stored, so their RequestIds block nothing."""
        self.send_dates: list[str] = []
        self.rejected_ids: dict[str, float] = {}
        """RequestId -> when it was refused (kept only with reserve_rejected)."""

    def accept(self, body: dict[str, Any]) -> dict[str, str]:
        answer = self._answer_for(body)
        if self.reserve_rejected:
            self.reserve(body, answer["CodeResult"])
        return answer

    def reserve(self, body: dict[str, Any], code: str) -> None:
        """With reserve_rejected: a refused request's RequestId stays blocked for 24 hours."""
        request_id = body.get("RequestId")
        if (
            code not in (esms.ACCEPTED, esms.ALREADY_ACCEPTED, "101", "110")
            and isinstance(request_id, str)
            and request_id
            and str(body.get("Sandbox", "")) != "1"
        ):
            self.rejected_ids[request_id] = time.time()

    def reserved(self, request_id: str) -> bool:
        refused = self.rejected_ids.get(request_id)
        return refused is not None and time.time() - refused < RESERVED_SECONDS

    def _answer_for(self, body: dict[str, Any]) -> dict[str, str]:
        account = self.account
        if not account.keys_ok(body):
            return {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
        if body.get("OAID") != account.oaid:
            return {"CodeResult": "799", "ErrorMessage": "OAID is not active or wrong"}
        payload = body.get("Payload")
        problem = payload_problem(payload)
        if problem is not None:
            return problem
        assert isinstance(payload, dict)
        request_id = body.get("RequestId")
        if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 50):
            return {"CodeResult": "110", "ErrorMessage": "RequestId is invalid"}
        if request_id and (request_id in self.accepted or self.reserved(request_id)):
            return {"CodeResult": esms.ALREADY_ACCEPTED, "ErrorMessage": "Request exist 1"}
        sandbox = str(body.get("Sandbox", "")) == "1"
        if "SendDate" in body:
            self.send_dates.append(str(body["SendDate"]))
        if not sandbox and not account.can_pay():
            return {"CodeResult": "103", "ErrorMessage": "Balance not enough to send message"}
        smsid = f"{self.rng.getrandbits(128):032x}{len(self.accepted) % 1000:03d}"
        if sandbox:
            # The sandbox page: such messages are "not stored in eSMS, not charged, not
            # delivered", so nothing keeps their RequestId either.
            self.sandboxed += 1
            return {"CodeResult": esms.ACCEPTED, "SMSID": smsid}
        message = payload["message"]
        accepted = Accepted(
            smsid=smsid,
            user_id=payload["recipient"]["user_id"],
            text=message["text"],
            url=message["attachment"]["payload"]["elements"][0]["url"],
            sandbox=sandbox,
            request_id=request_id or "",
        )
        if request_id:
            self.accepted[request_id] = accepted
        else:
            self.unkeyed.append(accepted)
        callback_url = body.get("CallbackUrl")
        if isinstance(callback_url, str) and callback_url:
            self.on_callback(accepted, callback_url)
        account.charge()
        return {"CodeResult": esms.ACCEPTED, "SMSID": smsid}

    def delivered(self) -> int:
        """Messages accepted for delivery (sandbox ones are not)."""
        return len([a for a in self.accepted.values() if not a.sandbox]) + len(self.unkeyed)
