"""`callbacks`: receive eSMS's delivery reports (HTTP GET, query parameters) into the journal.

eSMS signs nothing, so the only protection is an unguessable path (--token)
and answering little: 200 once a report is stored, 400 for a request that is
not a report, 404 anywhere else. eSMS retries a report only when the
receiver times out, so a report is answered 200 only once it is on disk (in
the journal, or while the journal is busy in its reports log, folded in
later), and never with a 5xx: a report that cannot be stored at all gets no
answer, and eSMS sends it again.

It can run beside `send` (two processes, one journal): SQLite serialises the
writes, and the result file is rewritten without keeping a send waiting: the
new copy replaces the file only if no `send` is running and none wrote the
file meanwhile (send writes the delivery columns itself as it goes).

Anyone can open a socket to it, so it holds under abuse: a cap on open
connections (the oldest idle one makes room for a new one), a deadline for a
request's headers and for idle keep-alive connections, no request bodies,
few requests per connection, and every logged value escaped, each kind of
trouble logged at most once per interval. A report for a message no send has
recorded yet is kept all the same (it often beats send's commit of the
answer, and eSMS never sends it again): it joins its row when the result
file is next written. Past a bound, such reports are kept only while the
disk keeps room to spare, so a flood of forged ones cannot fill it; one
that is not kept gets no answer, and eSMS sends it again.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from batch_sender.esms.delivery_report import BadReport, Delivery, from_report
from batch_sender.i18n import N_, _
from batch_sender.journal.errors import JournalError
from batch_sender.journal.store import Journal
from batch_sender.results.result_file import (
    NotRewritable,
    rewrite_deliveries,
)

CALLBACK_PATH = "/esms/callback"

# What the held-back lines are counted by, and named in their summary line.
CANNOT_STORE = N_("cannot store")
UNKNOWN_SMSID = N_("unknown SMSID")
JOURNAL_BUSY = N_("journal busy")
REPORTS_LOG = N_("reports log")
CONNECTION_CAP = N_("connection cap")
NOT_REWRITTEN = N_("not rewritten")
TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    """Open connections at most; far below the usual 1,024 open files."""
    idle_timeout: float = 10.0
    """Seconds a connection may stay without a complete request (headers included)."""
    max_requests: int = 100
    """Requests per connection, then it is closed (keep-alive limit)."""
    unknown_kept: int = 1_000
    """Reports for messages no send has recorded (yet) kept without a look at the disk;
    past this many, each is kept only while the disk has min_free bytes free."""
    min_free: int = 64 * 1024 * 1024
    """Free bytes a report for an unknown message may not eat into (the disk is the
    journal's): below, it gets no answer and eSMS sends it again later."""
    log_every: float = 10.0
    """Each kind of trouble is logged at most once per this many seconds."""
    busy_timeout: float = 1.0
    """How long a report waits for the journal before it goes to the reports log."""
    hold_unstored: float = 120.0
    """A report that cannot be stored at all gets no answer for this long (eSMS then retries)."""


def printable(value: object, limit: int = 120) -> str:
    """A value fit for a log line: control characters escaped, length bounded.

    A newline in a forged SMSID would forge a log line; an escape sequence
    would reach the operator's terminal.
    """
    text = str(value)
    cut = text[:limit]
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in cut)
    return shown + ("..." if len(text) > limit else "")


class Throttled:
    """Say each kind of line at most once per interval; how many were held back, next time."""

    def __init__(
        self, say: Callable[[str], None], every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.say, self.every, self.clock = say, every, clock
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, cause: str, line: str) -> None:
        now = self.clock()
        last = self._last.get(cause)
        if last is not None and now - last[0] < self.every:
            self._last[cause] = (last[0], last[1] + 1)
            return
        held = last[1] if last is not None else 0
        if held:
            line += _(" (and {n:,} more like it before)", n=held)
        self._last[cause] = (now, 0)
        self.say(line)

    def flush(self) -> None:
        """The counts still held back (at the end)."""
        for cause, (_first, held) in self._last.items():
            if held:
                self.say(_("{cause}: {n:,} more times, not shown", cause=_(cause), n=held))
        self._last.clear()


class StoreFailed(Exception):
    """Neither the journal nor its reports log could keep a report."""


@dataclass
class Receiver:
    results: Path
    journal: Journal
    say: Callable[[str], None]
    limits: Limits = field(default_factory=Limits)
    received: int = 0
    unknown: int = 0
    """Reports that came before any send recorded their message (kept all the same)."""
    unanswered: int = 0
    """Reports that could not be stored, so got no answer (eSMS sends them again)."""
    unmatched: int = 0
    """Reports kept that match no message of the campaign when the receiver stops."""
    rejected: int = 0
    logged: int = 0
    """Reports kept in the reports log because the journal was busy."""
    changed: bool = True
    """The result file may lack reports the journal holds: a receiver killed between
    its 200s and its rewrite left them there, so the first rewrite folds them in."""
    counts: dict[str, int] = field(default_factory=dict)
    _unknown_kept: int | None = None
    _refused: tuple[int, int, int] | None = None
    """The result file as it was when found not the journal's to rewrite."""
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="journal")
    )
    _log: Throttled | None = None

    def __post_init__(self) -> None:
        self._log = Throttled(self.say, self.limits.log_every)

    @property
    def log(self) -> Throttled:
        assert self._log is not None
        return self._log

    async def in_journal_thread(self, fn: Callable[[], T]) -> T:
        """The journal's one thread: its I/O never blocks the event loop, and never races."""
        # In the caller's context: what it says there is in the caller's language.
        return await asyncio.wrap_future(self._executor.submit(contextvars.copy_context().run, fn))

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "HEAD":
            # A URL check (eSMS's portal, a monitor), never a report: eSMS reports with GET.
            return web.Response()
        try:
            delivery = from_report(request.query)
        except BadReport as exc:
            self.rejected += 1
            return web.Response(status=400, text=f"not a delivery report: {exc}\n")
        try:
            request_id = await self.in_journal_thread(lambda: self.store(delivery))
        except StoreFailed as exc:
            self.unanswered += 1
            self.log(
                CANNOT_STORE,
                _("cannot store a report: {reason}; not answered", reason=printable(exc)),
            )
            return await _no_answer(request, self.limits.hold_unstored)
        self.received += 1
        self.changed = True
        self.counts[delivery.delivery] = self.counts.get(delivery.delivery, 0) + 1
        if request_id is None:
            self.unknown += 1
            self.log(
                UNKNOWN_SMSID,
                _(
                    "a report for a message no send has recorded yet (kept: it joins its row "
                    "once send records it): SMSID {smsid}",
                    smsid=printable(delivery.smsid),
                ),
            )
        return web.Response(text="OK\n")

    def store(self, delivery: Delivery) -> str | None:
        """Record a report in the journal, or its reports log when the journal is busy.

        Runs in the journal's thread. The RequestId it belongs to, None when unknown.
        StoreFailed when it cannot be kept (then it must not be answered 200).
        """
        keep = self._keep_unknown()
        try:
            request_id = self.journal.deliveries.record(delivery, keep_unknown=keep)
            self.journal.commit()
        except (JournalError, sqlite3.Error) as exc:
            self.journal.abandon()
            if not keep:
                # It may be a stranger's: past the bound, the log too keeps room to spare.
                raise StoreFailed(_("{exc}; and the disk is nearly full", exc=exc)) from None
            try:
                self.journal.deliveries.hold(delivery)
            except OSError as failed:
                raise StoreFailed(
                    _("{exc}; and its log: {reason}", exc=exc, reason=failed.strerror)
                ) from None
            self.logged += 1
            self.log(
                JOURNAL_BUSY,
                _("journal busy ({reason}): reports kept in its log", reason=printable(exc)),
            )
            return delivery.request_id or delivery.smsid
        if request_id is None:
            if not keep:
                raise StoreFailed(
                    _(
                        "for a message no send has recorded yet, and less than "
                        "{n:,} bytes are free beside {name}",
                        n=self.limits.min_free,
                        name=self.journal.path.name,
                    )
                )
            assert self._unknown_kept is not None
            self._unknown_kept += 1
        return request_id

    def _keep_unknown(self) -> bool:
        """Whether a report no send knows yet may be stored now (journal thread)."""
        if self._unknown_kept is None:
            self._unknown_kept = self.journal.deliveries.unknown()
        if self._unknown_kept < self.limits.unknown_kept:
            return True
        try:
            disk = os.statvfs(self.journal.path.parent)
        except OSError:
            return True  # no way to tell: the write itself then says whether it fits
        return disk.f_bavail * disk.f_frsize >= self.limits.min_free

    def fold(self) -> None:
        """Move the reports log into the journal, if it can now (the journal's thread)."""
        try:
            # Every report in the log was answered 200: each is kept, known or not.
            folded = self.journal.deliveries.fold_held()
        except (JournalError, sqlite3.Error):
            return  # still busy: the next round tries again
        except OSError as exc:
            self.log(REPORTS_LOG, _("cannot read the reports log: {reason}", reason=printable(exc)))
            return
        if folded:
            self.changed = True

    def rewrite(self) -> bool:
        """Rewrite the result file unless a send is writing it (journal thread).

        False when a send runs or wrote the file meanwhile: the next round tries again.
        """
        self.fold()
        if not self.changed:
            return True
        try:
            found = self.results.stat()
        except FileNotFoundError:
            return True  # no file yet: the send that makes it writes the reports in
        seen = (found.st_ino, found.st_size, found.st_mtime_ns)
        if seen == self._refused:
            return True  # the same file, refused already: read again once a send writes it
        self.changed = False
        try:
            if rewrite_deliveries(self.results, self.journal):
                return True
        except NotRewritable as exc:
            # Its reports wait in the journal; the next send writes them in.
            self._refused = seen
            self.log(NOT_REWRITTEN, printable(exc, 400))
            return True
        self.changed = True
        return False

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.log.flush()


async def _no_answer(request: web.BaseRequest, hold: float) -> web.StreamResponse:
    """Keep eSMS waiting until it times out, then drop the connection: it will retry.

    The response returned never reaches the wire: the connection is gone.
    """
    try:
        await asyncio.sleep(hold)
    finally:
        request.protocol.force_close()
    return web.Response(status=204)


def _closing(response: web.Response) -> web.Response:
    response.force_close()
    return response
