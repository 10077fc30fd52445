"""The journal's writer: the one thread that owns its SQLite connection, and its batches.

Marks and answers are committed to SQLite in batches (every `commit_interval`
seconds) by this thread: the event loop never waits for SQLite, and no
transaction is ever open across a network wait, so the callback receiver
and `status` can write at any time. A batch whose commit fails (busy, disk
full) is rolled back and tried again; its entries stay in the crash log until
it is committed, so a crash, a kill or a full disk loses no mark and no SMSID.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from batch_sender.i18n import _
from batch_sender.journal.batching import groups, run
from batch_sender.journal.crashlog import CrashLog, Write
from batch_sender.journal.errors import JournalError

_P = ParamSpec("_P")
_R = TypeVar("_R")

BATCH = 500
"""Values per `IN (...)` query: well under SQLite's limit of bound parameters."""


def in_batches(values: Iterable[str], size: int = BATCH) -> Iterator[tuple[list[str], str]]:
    """The non-empty values in batches, each with its `?,?,...` for an IN (...) clause."""
    kept = [v for v in values if v]
    for start in range(0, len(kept), size):
        batch = kept[start : start + size]
        yield batch, ",".join("?" * len(batch))


class Rows:
    """A statement's rows, fetched in the writer's thread."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class Writer:
    """The connection as the journal's parts see it: every statement runs in its thread.

    The connection is this thread's alone, so a query never meets a batch
    half-committed, whichever thread asks.
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, log: CrashLog, commit_interval: float
    ) -> None:
        self.conn = conn
        self.path = path
        self.log = log
        self.commit_interval = commit_interval
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"journal {path.name}")
        self._thread = self._executor.submit(threading.get_ident).result()
        self._guard = threading.Lock()
        """Held while a write joins `_pending` and its log, and while a batch is taken."""
        self._pending: list[Write] = []
        self._stuck: tuple[list[Write], int] | None = None
        """A batch taken but not committed yet (busy, disk full), with the log that holds it."""
        self._queued = False
        self.failure: JournalError | None = None
        """Why the last background commit failed (not for a busy lock): writes then raise it."""
        self._no_room: JournalError | None = None
        """The disk filled up while sending: SQLite gets no more commits in this run, so
        that whatever room is left (the reserve) takes the answers still in flight."""
        self._last_commit = time.monotonic()

    def call(self, fn: Callable[[], _R]) -> _R:
        """Run fn in the writer's thread and wait for it."""
        if threading.get_ident() == self._thread:
            return fn()
        return self._executor.submit(contextvars.copy_context().run, fn).result()

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        conn = self.conn
        return self.call(lambda: Rows(conn.execute(sql, params).fetchall()))

    def executemany(self, sql: str, seq: Iterable[Sequence[object]]) -> None:
        conn, rows = self.conn, list(seq)
        self.call(lambda: conn.executemany(sql, rows))

    def write(
        self,
        sql: str,
        params: tuple[object, ...],
        log: str | None = None,
        *,
        in_flight: bool = True,
        mark: bool = False,
    ) -> None:
        """Queue a write for the next batch; with `log`, on disk before this returns."""
        self.write_all(((sql, params),), log, in_flight=in_flight, mark=mark)

    def write_all(
        self,
        writes: tuple[Write, ...],
        log: str | None = None,
        *,
        in_flight: bool = True,
        mark: bool = False,
    ) -> None:
        """Queue writes for the next batch; with `log` (one entry for all), on disk first.

        in_flight: the write is about a request already out (its answer), which
        may take the reserve when the disk is full; a request not out yet has
        no claim on it, and stays unsent. mark: the write is the mark of a
        request about to go out, dropped if it cannot be logged. A batch goes
        to SQLite as a few multi-row statements (journal/batching.py).
        """
        with self._guard:
            # Under the guard: an entry is in the log of the batch it belongs to.
            try:
                if log is not None:
                    self._append(log, in_flight=in_flight)
            except JournalError:
                # A mark not on disk: its request must not go out. An answer
                # not on disk is still committed with its batch if SQLite can.
                if not mark:
                    self._pending.extend(writes)
                raise
            self._pending.extend(writes)
        if self.failure is not None and self.log.is_open:
            raise self.failure  # a run that sends stops here (other users call commit())
        if not self._queued and time.monotonic() - self._last_commit >= self.commit_interval:
            self._queued = True
            # The writer's context: a failure's message in the language it chose.
            self._executor.submit(contextvars.copy_context().run, self._commit_in_background)

    def _append(self, entry: str, *, in_flight: bool) -> None:
        """One entry in the active log: a write() the kernel keeps even if the process dies.

        Each entry starts a new line, so one cut short by a full disk or a
        crash spoils only itself. When the disk is full, the run stops, and
        an entry for a request already out goes into the reserve instead.
        """
        data = ("\n" + entry).encode()
        try:
            self.log.append(data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise JournalError(self.path, exc) from None
            self._out_of_room()
            if not in_flight or not self.log.reserve.write(data):
                raise JournalError(self.path, exc) from None

    def _out_of_room(self) -> None:
        if self.log.is_open and self._no_room is None:
            self._no_room = JournalError(self.path, OSError(errno.ENOSPC, _("disk full")))
            self.failure = self._no_room

    def _commit_in_background(self) -> None:
        if self._no_room is not None:
            return  # the logs keep everything until the run's last commit
        try:
            self._commit_pending()
        except JournalError as exc:
            if not exc.busy:
                self.failure = exc
        finally:
            self._queued = False
            self._last_commit = time.monotonic()

    def _commit_pending(self) -> None:
        """Commit every write queued so far, in one batch (the writer's thread only).

        A batch is taken together with the log that holds its entries (new
        entries go to the other log meanwhile); that log is emptied only
        once the batch is committed, so the batch's entries are on disk all
        along. A failed batch is retried, before any later one, next time.
        Writes queued meanwhile wait for the next commit: one transaction per
        interval, not one per handful of writes (each rewrites the pages it
        touches into the WAL, which then outgrew a small disk).
        """
        while True:  # a batch a failed commit left first, then what is queued now
            fresh = self._stuck is None
            if self._stuck is None:
                with self._guard:
                    if not self._pending:
                        break
                    batch, self._pending = self._pending, []
                    used = self.log.swap()
                self._stuck = (batch, used)
            batch, used = self._stuck
            self.apply(batch)
            self._stuck = None
            self.log.empty(used)
            if fresh:
                break
        self.failure = None
        self._last_commit = time.monotonic()

    def apply(self, batch: list[Write]) -> None:
        """One transaction, begun and ended here: rolled back when it fails.

        The reserve is not SQLite's to use: when SQLite runs out of room the
        run stops, and the reserve keeps room for the answers still in flight.
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in groups(batch):
                    run(self.conn, sql, rows)
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if "disk is full" in str(exc).lower():
                self._out_of_room()
            raise JournalError(self.path, exc) from None

    def flush(self) -> None:
        """Commit what is queued before a read (which then sees every write made so far).

        A commit that fails here (disk full) leaves the batch queued: the
        read sees what is committed, and the failure stops the run through
        the next write.
        """
        if self._no_room is not None:
            return
        try:
            self.call(self._commit_pending)
        except JournalError as exc:
            if not exc.busy:
                self.failure = exc

    def commit(self) -> None:
        """Commit every write queued before this call; JournalError if it cannot be.

        (A write another thread queues while the batch is applied waits for the
        next commit; a logged one is in the crash log meanwhile.)
        """
        self.call(self._commit_pending)

    def abandon(self) -> None:
        """Drop what is not committed yet (the receiver keeps it in its own log)."""

        def drop() -> None:
            with self._guard:
                self._pending.clear()
            self._stuck = None
            self.failure = None

        self.call(drop)

    def close(self) -> None:
        """Close the connection and end the thread (what is queued is not committed)."""
        self._executor.submit(self.conn.close).result()
        self._executor.shutdown()


class _HasWriter(Protocol):
    @property
    def writer(self) -> Writer: ...


_S = TypeVar("_S", bound=_HasWriter)


def in_writer(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """Run a method of several statements in the writer's thread: no batch commits between."""

    def call(part: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return part.writer.call(lambda: method(part, *args, **kwargs))

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    return call
