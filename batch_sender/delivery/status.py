"""`status`: ask eSMS's GetCallback look-up for the accepted messages with no final report.

As eSMS's page documents it: the account's keys, the OA, and `ListRefid`,
eSMS's SMSIDs (200 at most a call, 20 calls a second); the answer is
`{"Code": 100, "Message", "Data_callback": [...]}` with PascalCase records.
It only knows messages sent with a CallbackUrl, and rows accepted through
124 have no SMSID to ask about.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from batch_sender.errors import AccountError
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import new_session
from batch_sender.esms.delivery_report import BadReport, from_report
from batch_sender.esms.retry import or_stop, post_json_retried
from batch_sender.i18n import _, ngettext
from batch_sender.journal.errors import JournalError
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.results.result_file import NotRewritable, rewrite_deliveries
from batch_sender.sending.ratelimit import RateLimiter

OAID_CODES = frozenset({"204", "791", "799"})
BUSY = "160"
"""Over the 20 calls a second: ask again after a while."""
NOT_FOUND = "105"
"""The code table's "message not found; newly sent ones are not known at once": nothing yet."""
ATTEMPTS = 5
"""Requests per page at most: a 160 means others share the account's 20 calls a second."""
BACKOFF = 0.5


class Limiter(Protocol):
    async def acquire(self) -> None: ...


@dataclass
class LookUp:
    """What one `status` run asked and learnt."""

    asked: int = 0
    """Accepted messages with an SMSID and no final report."""
    known: int = 0
    """Of those, how many eSMS had a record for."""
    without_smsid: int = 0
    """Accepted rows with no SMSID (accepted through 124): nothing to ask about."""
    found: Counter[str] = field(default_factory=Counter)
    """The reports recorded, by delivery outcome."""


async def look_up(
    results: Path,
    *,
    status_base_url: str,
    credentials: esms.Credentials,
    timeout: float,
    say: Callable[[str], None],
    limiter: Limiter | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LookUp:
    """Record what GetCallback knows; AccountError (exit 3) when it refuses the request."""
    journal = _open(journal_path(results), say)
    outcome = LookUp()
    if journal is None:
        return outcome  # a read-only campaign with nothing left to ask
    try:
        if journal.deliveries.claim_by_follower():
            journal.commit()  # the SMSIDs learned are asked about too
        asked = journal.deliveries.unreported()
        outcome.asked = len(asked)
        outcome.without_smsid = journal.deliveries.accepted_without_smsid()
        say(
            ngettext(
                "asking eSMS about {n:,} accepted message with no final report",
                "asking eSMS about {n:,} accepted messages with no final report",
                len(asked),
            )
        )
        if outcome.without_smsid:
            say(
                _(
                    "{n:,} accepted rows have no SMSID (accepted through 124, or eSMS gave "
                    "none with its 100): eSMS cannot be asked about them",
                    n=outcome.without_smsid,
                )
            )
        url = status_base_url.rstrip("/") + esms.GET_CALLBACK_PATH
        limiter = limiter or RateLimiter(esms.GET_CALLBACK_RATE)
        session = new_session(4)
        try:
            for start in range(0, len(asked), esms.GET_CALLBACK_BATCH):
                page = asked[start : start + esms.GET_CALLBACK_BATCH]
                request = post_json_retried(
                    session,
                    url,
                    esms.get_callback_body(credentials, page),
                    timeout=timeout,
                    max_attempts=ATTEMPTS,
                    backoff=BACKOFF,
                    before=limiter.acquire,  # retries count against the 20 calls a second too
                    busy=busy,
                    sleep=sleep,
                )
                data = await or_stop(
                    request,
                    unreachable=_("cannot reach eSMS's status look-up at {url}", url=url),
                    option="{opt:status_base_url}",
                )
                for record in records(data):
                    try:
                        delivery = from_report(record)
                    except BadReport:
                        continue
                    outcome.known += 1
                    journal.deliveries.record(delivery)
                    outcome.found[delivery.delivery] += 1
                journal.commit()
        finally:
            await session.close()
            # Pages already answered stay recorded even when a later one fails; and
            # reports a killed receiver stored but never wrote out are folded in too.
            _fold_into(results, journal, say)
    finally:
        journal.close()
    return outcome


def _open(path: Path, say: Callable[[str], None]) -> Journal | None:
    """The journal to record into; None if it is read-only and nothing is left to ask.

    A campaign archived read-only whose messages all have their final
    report needs no write: status then says so and succeeds. With messages
    still to ask about, it stops before asking: the answers could not be kept.
    """
    try:
        return Journal(path)
    except JournalError as exc:
        folder = path.parent
        if os.access(folder, os.W_OK) and os.access(path, os.W_OK):
            raise
        readonly = OSError(errno.EROFS, _("the folder is read-only"), str(folder))
        failed = JournalError(path, readonly)
        cause: BaseException = exc
    reader = Journal(path, read_only=True)
    try:
        left = len(reader.deliveries.unreported())
    finally:
        reader.close()
    if left:
        raise failed from cause
    say(
        _(
            "nothing to ask: every accepted message has its final report "
            "(read-only, so {name} is left as it is)",
            name=path.name,
        )
    )
    return None


def _fold_into(results: Path, journal: Journal, say: Callable[[str], None]) -> None:
    """The journal's reports into the result file, unless a send is writing it."""
    if results.exists():
        try:
            rewrite_deliveries(results, journal)
        except NotRewritable as exc:
            say(_("{reason}; the reports are kept in the journal", reason=exc))


def busy(data: dict[str, Any]) -> str | None:
    """Why this answer means "ask again later" (Code 160: over the limit), or None."""
    code = str(data.get("Code", "")).strip()
    if code != BUSY:
        return None
    message = str(data.get("Message") or "").strip()
    return f"Code {code} {message}".rstrip() + _(" (over its limit of 20 calls a second)")


def records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a GetCallback answer; AccountError for any Code but 100."""
    code = str(data.get("Code", "")).strip()
    if code == NOT_FOUND:
        return []
    if code != esms.ACCEPTED:
        message = str(data.get("Message") or "").strip()
        if code == "101":
            raise AccountError(code, _(esms.ACCOUNT_CODES[code]))
        detail = f"Code {code} {message}".rstrip()
        if code in OAID_CODES:
            raise AccountError(
                code,
                _(
                    "eSMS's status look-up refused the OAID ({detail}): check {setting:oaid}",
                    detail=detail,
                ),
            )
        shown = detail if code else (_("no Code") + " " + message).rstrip()
        raise AccountError(
            code,
            _("eSMS's status look-up answered {shown}: the look-up stopped", shown=shown),
        )
    found = data.get("Data_callback")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
