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
import contextlib
import contextvars
import errno
import ipaddress
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import BadReport, Delivery, from_report
from batch_sender.i18n import N_, _, warning
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal, JournalError
from batch_sender.results.result_file import (
    check_result_suffix,
    result_header,
    rewrite_deliveries,
)

CALLBACK_PATH = "/esms/callback"

# What the held-back lines are counted by, and named in their summary line.
CANNOT_STORE = N_("cannot store")
UNKNOWN_SMSID = N_("unknown SMSID")
JOURNAL_BUSY = N_("journal busy")
REPORTS_LOG = N_("reports log")
CONNECTION_CAP = N_("connection cap")
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
            request_id = self.journal.record_delivery(delivery, keep_unknown=keep)
            self.journal.commit()
        except (JournalError, sqlite3.Error) as exc:
            self.journal.abandon()
            if not keep:
                # It may be a stranger's: past the bound, the log too keeps room to spare.
                raise StoreFailed(_("{exc}; and the disk is nearly full", exc=exc)) from None
            try:
                self.journal.append_report(delivery)
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
            self._unknown_kept = self.journal.unknown_deliveries()
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
            folded = self.journal.fold_reports()
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
        if not self.changed or not self.results.exists():
            return True
        self.changed = False
        if rewrite_deliveries(self.results, self.journal):
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


def check_results(results: Path) -> None:
    """Refuse anything but a batch-sender result file (or one still to be written)."""
    if results.exists():
        result_header(results)
    else:
        check_result_suffix(results)


def callback_path(token: str | None) -> str:
    if token is None:
        return CALLBACK_PATH
    if not TOKEN.fullmatch(token):
        raise UsageError(_("--token must be 8 to 200 letters, digits, '-' or '_'"))
    return f"{CALLBACK_PATH}/{token}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> None:
    """eSMS signs nothing: from beyond this machine, only the token keeps strangers out."""
    if token is None and not is_loopback(host):
        raise UsageError(
            _(
                "--token is required to listen on {host}: eSMS signs nothing, so without it "
                "anyone who can reach this port can post reports; pass a long random one, "
                'e.g. --token "$(openssl rand -hex 16)"',
                host=host,
            )
        )


def receiver_app(receiver: Receiver, path: str) -> web.Application:
    """The receiver as an aiohttp application (for tests with aiohttp's test client)."""
    app = web.Application(client_max_size=16 * 1024)
    app.router.add_get(path, receiver.handle)
    return app


class _GuardedServer(web.Server):
    """aiohttp's low-level server with a cap on connections and on requests per connection."""

    def __init__(self, receiver: Receiver, path: str) -> None:
        limits = receiver.limits
        super().__init__(
            self._route,
            # From the moment a connection opens: a client that sends no complete
            # request (half-open, slowloris) is dropped after this.
            keepalive_timeout=limits.idle_timeout,
            lingering_time=1.0,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=32,
            access_log=None,
        )
        self.receiver, self.path, self.limits = receiver, path, limits
        self._open: dict[RequestHandler, int] = {}
        """Open connections, oldest first, with the requests each has made."""
        self._busy: set[RequestHandler] = set()

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._open[handler] = 0
        if len(self._open) > self.limits.max_connections:
            # Room for the newcomer (it may be eSMS): the oldest connection
            # that is not in the middle of a request goes.
            victim = next((h for h in self._open if h not in self._busy), handler)
            self._open.pop(victim, None)
            victim.force_close()
            self.receiver.log(
                CONNECTION_CAP,
                _(
                    "more than {n} connections open: closing the oldest idle ones",
                    n=self.limits.max_connections,
                ),
            )

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self._open.pop(handler, None)
        self._busy.discard(handler)
        super().connection_lost(handler, exc)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        handler = request.protocol
        self._busy.add(handler)
        try:
            response = await self._answer(request)
        finally:
            self._busy.discard(handler)
        made = self._open.get(handler, 0) + 1
        if handler in self._open:
            self._open[handler] = made
        if made >= self.limits.max_requests:
            response.force_close()
        return response

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path != self.path:
            return web.Response(status=404, text="not found\n")
        if request.method not in ("GET", "HEAD"):
            return _closing(web.Response(status=405, text="GET only\n"))
        if request.content_length or request.headers.get("Transfer-Encoding"):
            # A report has no body: none is read, so none can hold the connection.
            return _closing(web.Response(status=413, text="no body expected\n"))
        return await self.receiver.handle(request)


def _within_open_files(limits: Limits) -> Limits:
    """At most half the open files this process may have are connections.

    The rest stay for a backlog's worth that asyncio accepts at once before
    the cap can close any, the journal, its logs and the result file.
    Reaching the limit would make accept() fail (EMFILE) for eSMS too.
    """
    import dataclasses
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits
    cap = max(4, soft // 2)
    if limits.max_connections <= cap:
        return limits
    return dataclasses.replace(limits, max_connections=cap)


def _closing(response: web.Response) -> web.Response:
    response.force_close()
    return response


def _loop_errors(log: Throttled) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The event loop's error reports (accept() out of file descriptors...), once per cause."""

    def handle(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "error")
        if isinstance(exc, OSError) and exc.errno is not None:
            cause = f"{message}: {errno.errorcode.get(exc.errno, exc.errno)}"
            text = f"{message}: {exc.strerror}"
        else:
            cause = f"{message}: {type(exc).__name__}" if exc else message
            text = f"{message}: {exc}" if exc else message
        log(cause, printable(text, 200))

    return handle


@contextlib.contextmanager
def _loop_error_handler(log: Throttled) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    loop.set_exception_handler(_loop_errors(log))
    try:
        yield
    finally:
        loop.set_exception_handler(before)


async def serve_callbacks(
    results: Path,
    *,
    host: str,
    port: int,
    token: str | None,
    every: float,
    say: Callable[[str], None],
    limits: Limits | None = None,
    stop: asyncio.Event | None = None,
) -> Receiver:
    """Run until `stop` is set (the CLI sets it on a signal) or the task is cancelled.

    The result file is rewritten every `every` seconds and at the end.
    """
    limits = _within_open_files(limits or Limits())
    check_token(host, token)
    path = callback_path(token)
    # A hostile request (a 10 kB query, garbage) gets its 4xx from aiohttp; its
    # traceback in our log would only let strangers fill the disk.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    journal = Journal(journal_path(results), busy_timeout=limits.busy_timeout)
    receiver = Receiver(results, journal, say, limits)
    server = _GuardedServer(receiver, path)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    # Until the end: accept() retries that asyncio scheduled on EMFILE may
    # still fire while the server closes.
    with _loop_error_handler(receiver.log):
        try:
            await _serve(receiver, runner, host, port, path, token, every, stop or asyncio.Event())
        finally:
            await runner.cleanup()
            # The last reports, once nothing else can arrive.
            for _attempt in range(100):
                if await receiver.in_journal_thread(receiver.rewrite):
                    break
                await asyncio.sleep(0.1)
            with contextlib.suppress(JournalError, sqlite3.Error):
                receiver.unmatched = await receiver.in_journal_thread(journal.unknown_deliveries)
            await receiver.in_journal_thread(journal.close)
            receiver.close()
    return receiver


async def _serve(
    receiver: Receiver,
    runner: web.ServerRunner,
    host: str,
    port: int,
    path: str,
    token: str | None,
    every: float,
    stop: asyncio.Event,
) -> None:
    site = web.TCPSite(runner, host, port, backlog=128)
    try:
        await site.start()
    except OSError as exc:
        raise UsageError(
            _(
                "cannot listen on {host}:{port}: {strerror}",
                host=host,
                port=port,
                strerror=exc.strerror,
            )
        ) from None
    sockets = getattr(site._server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    say = receiver.say
    url = f"http://{host}:{bound}{path}"
    say(_("receiving eSMS callbacks at {url}", url=url))
    say(
        _(
            "results: {path} (rewritten every {every:g} s while no send runs)",
            path=receiver.results,
            every=every,
        )
    )
    if token is None:
        say(
            warning(
                _(
                    "no --token: any program on this machine can post reports; "
                    "pass --token to take them only at a secret path"
                )
            )
        )
    await receiver.in_journal_thread(receiver.fold)  # what a previous receiver kept
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        await receiver.in_journal_thread(receiver.rewrite)
