"""The send running a campaign, as its journal records it: a guard that needs no lock file.

The lock file beside the journal looks like a leftover to an operator, who
may delete it while a send runs; the next send then locks a new file and two
sends run at once, each sending what the other has not recorded yet. So a
send also records itself in the journal (pid, host, a token, when it started,
a heartbeat refreshed every few seconds by the writer's thread), and a send
that got the lock refuses to start while that record is alive. A record left
by a send that was killed is taken over.

Where the pid can be checked (this host, this pid namespace) the pid decides,
whatever the heartbeat says: a send that is stopped (Ctrl-Z, a laptop asleep)
or too busy to beat still sends once it goes on. Its start time tells a pid
used again by another process from the send's own. Elsewhere (another host,
another container with the same hostname) only the heartbeat tells.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
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


@functools.cache
def _pid_namespace() -> str:
    """This process's pid namespace ("" where there is none to read); it never changes."""
    try:
        return str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        return ""


def _started_at(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot ("" if unknown or gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: count after its last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""  # field 22, starttime


@dataclass(frozen=True)
class RunningSend:
    pid: int
    host: str
    token: str
    since: float
    beat: float
    pidns: str = ""
    """Its pid namespace ("" in records of older versions, or where unknown)."""
    started: str = ""
    """Its process's start time, to tell its pid from the same pid used again."""

    @classmethod
    def mine(cls, token: str, now: float) -> RunningSend:
        pid = os.getpid()
        return cls(pid, socket.gethostname(), token, now, now, _pid_namespace(), _started_at(pid))

    def alive(self, now: float, *, locked: bool = False) -> bool:
        """Whether this send still runs: on this host and pid namespace its pid
        decides, elsewhere a recent heartbeat.

        locked: this process holds the campaign's lock, so a record of its own pid
        is one it left without closing (a library caller's crash), not a send.
        """
        here = self.host == socket.gethostname()
        if here and self.pidns and self.pidns == _pid_namespace():
            if self.started and self.started != _started_at(self.pid):
                return False  # its process is gone; the pid is another's now
            if self.pid == os.getpid():
                return not locked
            return _pid_alive(self.pid)
        if now - self.beat > STALE:
            return False
        if not here or self.pidns:
            return True  # its pid means nothing here: the heartbeat alone tells
        if self.pid == os.getpid():
            return not locked
        return _pid_alive(self.pid)

    def refusal(self, journal: Path) -> UsageError:
        since = dt.datetime.fromtimestamp(self.since).strftime("%H:%M")
        if self.host != socket.gethostname() or self.pidns not in ("", _pid_namespace()):
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
            str(data.get("pidns", "")),
            str(data.get("started", "")),
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
                _write(conn, RunningSend.mine(self.token, now))
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
                _write(conn, dataclasses.replace(mine, beat=time.time()))
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
