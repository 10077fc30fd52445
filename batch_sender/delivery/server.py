"""The callback server: eSMS's reports over HTTP to the receiver, guarded against floods."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from batch_sender.delivery.receiver import (
    CALLBACK_PATH,
    CONNECTION_CAP,
    TOKEN,
    Limits,
    Receiver,
    Throttled,
    _closing,
    printable,
)
from batch_sender.errors import UsageError
from batch_sender.i18n import _, warning
from batch_sender.journal.errors import JournalError
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.results.result_file import (
    check_result_suffix,
    result_header,
)


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
                receiver.unmatched = await receiver.in_journal_thread(journal.deliveries.unknown)
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
