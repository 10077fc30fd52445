"""The send running a campaign, as its journal records it: a guard that needs no lock file.

The lock file beside the journal looks like a leftover to an operator, who
may delete it while a send runs; the next send then locks a new file and two
sends run at once, each sending what the other has not recorded yet. So a
send also records itself in the journal (pid, host, a token, when it started,
a heartbeat refreshed every few seconds by the writer's thread), and a send
that got the lock refuses to start while that record is alive. A record left
by a send that was killed (its pid gone, or its heartbeat old) is taken over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.journal.writer import Writer

RUNNING = "send_running"
"""Meta key: the send running now (JSON), absent when none is."""


HEARTBEAT = 3.0
"""Seconds between a running send's heartbeats."""


STALE = 30.0
"""A heartbeat older than this is a killed (or frozen) send's: its record is taken over."""


@dataclass(frozen=True)
class RunningSend:
    pid: int
    host: str
    token: str
    since: float
    beat: float

    def alive(self, now: float, *, locked: bool = False) -> bool:
        """Whether this send still runs: a recent heartbeat, and on this host a live pid.

        locked: this process holds the campaign's lock, so a record of its own pid
        is one it left without closing (a library caller's crash), not a send.
        """
        if now - self.beat > STALE:
            return False
        if self.host != socket.gethostname():
            return True  # its pid means nothing here: the heartbeat alone tells
        if self.pid == os.getpid():
            return not locked
        return _pid_alive(self.pid)

    def refusal(self, journal: Path) -> UsageError:
        since = dt.datetime.fromtimestamp(self.since).strftime("%H:%M")
        if self.host != socket.gethostname():
            return UsageError(
                _(
                    "{path}: another send of this campaign is running (pid {pid} on {host} "
                    "since {since}); wait for it to finish (or stop it), then rerun",
                    path=journal,
                    pid=str(self.pid),
                    host=self.host,
                    since=since,
                )
            )
        return UsageError(
            _(
                "{path}: another send of this campaign is running (pid {pid} since {since}); "
                "wait for it to finish (or stop it), then rerun",
                path=journal,
                pid=str(self.pid),
                since=since,
            )
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _parse(value: object) -> RunningSend | None:
    try:
        data = json.loads(str(value))
        return RunningSend(
            int(data["pid"]),
            str(data["host"]),
            str(data["token"]),
            float(data["since"]),
            float(data["beat"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: no send can be refused on its account


def _read(conn: sqlite3.Connection) -> RunningSend | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (RUNNING,)).fetchone()
    return None if row is None else _parse(row[0])


def _write(conn: sqlite3.Connection, send: RunningSend) -> None:
    value = json.dumps(dataclasses.asdict(send))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (RUNNING, value))


def running_send(writer: Writer) -> RunningSend | None:
    """The send this journal says is running now, if it is alive."""
    found = writer.call(lambda: _read(writer.conn))
    return found if found is not None and found.alive(time.time()) else None


class Claim:
    """This process's record as the campaign's running send, kept fresh until released."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False
        """Another send took the campaign over (this one was frozen past STALE): stop sending."""

    def take(self, journal: Path) -> None:
        """Record this send, in one transaction with the check: UsageError if another runs."""
        conn = self.writer.conn
        now = time.time()

        def claim() -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                other = _read(conn)
                if other is not None and other.alive(now, locked=True):
                    raise other.refusal(journal)
                _write(conn, RunningSend(os.getpid(), socket.gethostname(), self.token, now, now))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self.writer.call(claim)
        self._thread = threading.Thread(target=self._beat, name="send heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            # Busy now (the next beat tries again), or the journal is closing.
            with contextlib.suppress(RuntimeError, sqlite3.Error):
                self.writer.call(self._refresh)

    def _refresh(self) -> None:
        conn = self.writer.conn
        if conn.in_transaction:
            return  # a reader's snapshot: the next beat comes soon enough
        conn.execute("BEGIN IMMEDIATE")
        try:
            mine = _read(conn)
            if mine is not None and mine.token == self.token:
                _write(conn, RunningSend(mine.pid, mine.host, mine.token, mine.since, time.time()))
            elif mine is not None:
                # Its rows are the other send's now: sending them too would send twice.
                self.lost = True
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def release(self) -> None:
        """Stop the heartbeat and remove the record (if still this send's); again: nothing."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        conn = self.writer.conn

        def drop() -> None:
            mine = _read(conn)
            if mine is not None and mine.token == self.token:
                conn.execute("DELETE FROM meta WHERE key = ?", (RUNNING,))

        # Left behind, it ages: the next send takes it over.
        with contextlib.suppress(sqlite3.Error):
            self.writer.call(drop)
