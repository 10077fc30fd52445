"""`callbacks`: receive eSMS's delivery reports (HTTP GET, query parameters) into the journal.

eSMS signs nothing, so the only protection is an unguessable path (--token)
and answering little: 200 once a report is recorded, 400 for a request that
is not a report, 404 anywhere else. It can run beside `send` (two processes,
one journal): SQLite serialises the writes, and the result file is rewritten
only while no `send` holds the campaign's lock (send writes the delivery
columns itself when it finishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from batch_sender.delivery import BadReport, from_report
from batch_sender.errors import UsageError
from batch_sender.journal import Journal, journal_path
from batch_sender.results import result_header, rewrite_deliveries

CALLBACK_PATH = "/esms/callback"
TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")


@dataclass
class Receiver:
    results: Path
    journal: Journal
    say: Callable[[str], None]
    received: int = 0
    unknown: int = 0
    rejected: int = 0
    changed: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            delivery = from_report(request.query)
        except BadReport as exc:
            self.rejected += 1
            return web.Response(status=400, text=f"not a delivery report: {exc}\n")
        try:
            request_id = self.journal.record_delivery(delivery)
            self.journal.commit()  # recorded before eSMS hears 200 and stops retrying
        except sqlite3.OperationalError:
            return web.Response(status=503, text="busy, try again\n")
        self.received += 1
        self.changed = True
        self.counts[delivery.delivery] = self.counts.get(delivery.delivery, 0) + 1
        if request_id is None:
            self.unknown += 1
            self.say(f"a report for a message this campaign does not know: SMSID {delivery.smsid}")
        return web.Response(text="OK\n")

    def rewrite(self) -> bool:
        """Rewrite the result file unless a send is writing it; True if done."""
        if not self.changed or not self.results.exists():
            return False
        if not self.journal.try_lock():
            return False
        try:
            self.changed = False
            rewrite_deliveries(self.results, self.journal)
        finally:
            self.journal.unlock()
        return True


def check_results(results: Path) -> None:
    """Refuse anything but a batch-sender CSV result file (or one still to be written)."""
    if results.exists():
        result_header(results)
    elif results.suffix.lower() != ".csv":
        raise UsageError(f"{results}: delivery status is kept in .csv result files only")


def callback_path(token: str | None) -> str:
    if token is None:
        return CALLBACK_PATH
    if not TOKEN.fullmatch(token):
        raise UsageError("--token must be 8 to 200 letters, digits, '-' or '_'")
    return f"{CALLBACK_PATH}/{token}"


def receiver_app(receiver: Receiver, path: str) -> web.Application:
    app = web.Application(client_max_size=16 * 1024)
    app.router.add_get(path, receiver.handle)
    return app


async def serve_callbacks(
    results: Path,
    *,
    host: str,
    port: int,
    token: str | None,
    every: float,
    say: Callable[[str], None],
) -> Receiver:
    """Run until SIGINT/SIGTERM; rewrite the result file every `every` seconds and at the end."""
    path = callback_path(token)
    # A hostile request (a 10 kB query, garbage) gets its 4xx from aiohttp; its
    # traceback in our log would only let strangers fill the disk.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    journal = Journal(journal_path(results))
    receiver = Receiver(results, journal, say)
    runner = web.AppRunner(receiver_app(receiver, path), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sockets = getattr(site._server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        say(f"receiving eSMS callbacks at http://{host}:{bound}{path}")
        say(f"results: {results} (rewritten every {every:g} s while no send runs)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            await asyncio.to_thread(receiver.rewrite)
    finally:
        await runner.cleanup()
        # The last reports, once nothing else can arrive.
        if receiver.changed:
            for _ in range(100):
                if receiver.rewrite() or not receiver.changed:
                    break
                await asyncio.sleep(0.1)
        journal.close()
    return receiver
