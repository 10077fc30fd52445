"""Record: the campaign's journal, one SQLite row per message, beside the result file.

Every send outcome goes through here, and the result file is rebuilt from it,
so a run killed at any instant loses nothing a rerun cannot recover:

* before a request goes out, its RequestId is marked `sending`;
* when the answer comes, the outcome replaces the mark.

A `sending` mark is made crash-proof before its request goes out, and an
answer the moment it arrives: each is appended to a log beside the journal
(see `intend` and `record`). Marks and answers are committed to SQLite in
batches (every `commit_interval` seconds) by one thread that owns the
connection: the event loop never waits for SQLite, and no transaction is
ever open across a network wait, so the callback receiver and `status` can
write at any time. A batch whose commit fails (busy, disk full) is rolled
back and tried again; its entries stay in the log until it is committed, so
a crash, a kill or a full disk loses no mark and no SMSID: `open` folds
what a killed run left in the logs.

A full disk: the run sends only while a reserve of room, allocated beside
the journal before the first request, is whole. When the logs can grow no
more, the answers of the requests still in flight are written into the
reserve's own blocks (which no other program can take meanwhile) and no
new request goes out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeVar

from batch_sender.errors import BatchSenderError, UsageError
from batch_sender.esms.delivery_report import Delivery
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _
from batch_sender.journal.deliveries import DeliveryStore
from batch_sender.journal.files import (
    INTENTS_SUFFIX,
    JOURNAL_SUFFIX,
    LOCK_WAIT,
    REPORTS_SUFFIX,
    RESERVE_SUFFIX,
    _take_lock,
)
from batch_sender.journal.read_only import connect_read_only
from batch_sender.journal.records import _COLUMNS, Outcome, Record
from batch_sender.journal.row_sends import (
    ADD_TEXT,
    ANSWERED,
    CURRENT_SCHEMA,
    IDENTIFY,
    IDENTIFY_TEXT,
    REQUEST_ID_SCHEME,
    SCHEME,
    RowSends,
    _add_identity_columns,
    migrate,
)
from batch_sender.journal.writer_calls import _in_writer, _InWriter

SCHEMA_VERSION = CURRENT_SCHEMA
RESERVE_BYTES = 256 * 1024


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    request_id TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    status TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    smsid TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_sent_at REAL,
    ambiguous_since REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_smsid ON messages (smsid) WHERE smsid != '';
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    smsid TEXT NOT NULL,
    delivery TEXT NOT NULL,
    error TEXT NOT NULL,
    at TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_request_id ON deliveries (request_id);
CREATE INDEX IF NOT EXISTS deliveries_smsid ON deliveries (smsid);
"""


class WriteFailed(BatchSenderError):
    """A file the run must write cannot be written (disk full, read-only): exit 3."""

    exit_code = ExitCode.ACCOUNT

    def __init__(self, what: str, path: Path, cause: BaseException) -> None:
        why, advice = _failure(cause)
        super().__init__(
            _("cannot write {what}: {why}; {advice}", what=what, why=why, advice=advice)
        )
        self.path = path
        self.cause = cause


class JournalError(WriteFailed):
    """The journal cannot be written (disk full, read-only, busy too long): the run stops."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(_("the journal"), path, cause)

    @property
    def busy(self) -> bool:
        """Another process held SQLite's write lock: trying again later may succeed."""
        return isinstance(self.cause, sqlite3.OperationalError) and _is_busy(self.cause)


class JournalDamaged(UsageError):
    """The journal file is not a sound SQLite database: nothing is sent."""

    def __init__(self, path: Path, detail: str, *, sending: bool = False) -> None:
        results = path.name.removesuffix(JOURNAL_SUFFIX)
        self.detail = detail
        # Only `send` can say it sent nothing; report, status and callbacks never send.
        sent = "; nothing was sent" if sending else ""
        super().__init__(
            f"{path}: the journal is damaged ({detail}){sent}. Move it aside "
            f"(mv '{path}' '{path}.damaged'), keep {results} (it has the SMSIDs so far) and "
            "rerun with another -o: rows sent in the last 24 hours keep their RequestIds, so "
            "eSMS refuses to deliver them twice (124) and the new result file marks them "
            "for you to check"
        )


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _failure(cause: BaseException) -> tuple[str, str]:
    """What went wrong in a user's words, and what to do."""
    code = cause.errno if isinstance(cause, OSError) else None
    text = (cause.strerror if isinstance(cause, OSError) else None) or str(cause)
    if code == errno.ENOSPC or "disk is full" in text.lower():
        return _("No space left on device"), _("free space and rerun")
    if "disk i/o error" in text.lower():  # what SQLite says when WAL files cannot grow
        return text, _("is the disk full? free space and rerun")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in text.lower():
        return text, _("make the folder writable and rerun")
    if isinstance(cause, sqlite3.Error) and _is_busy(cause):
        return text, _("another program holds it; stop that program, then rerun")
    return text, _("rerun the same command to continue")


_quote = json.encoder.encode_basestring_ascii
"""A JSON string literal, in C: a log entry costs a microsecond or two, not json.dumps' six."""

_write_fd = os.write
"""How log entries reach the disk (tests replace it to fill the disk)."""

_R = TypeVar("_R")


class Journal(DeliveryStore, RowSends):
    def __init__(
        self,
        path: Path,
        *,
        commit_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
        read_only: bool = False,
    ) -> None:
        """read_only: for commands that only read (report); writes then fail."""
        self.path = path
        self.commit_interval = commit_interval
        self.clock = clock
        self._writer: int | None = None
        if read_only:
            try:
                self._conn = connect_read_only(path, busy_timeout)
            except sqlite3.DatabaseError as exc:  # "file is not a database"
                raise JournalDamaged(self.path, str(exc)) from None
        else:
            # timeout: another process (send, callbacks, status) may hold the write lock a moment.
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
        self._db = _InWriter(self)
        try:
            if not read_only:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only power loss can drop
                # the last commits, and those are recoverable (see module docstring).
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
                self._add_price_column()
                _add_identity_columns(self._conn)
                migrate(self._conn)
            self._check()
        except sqlite3.OperationalError as exc:
            # Busy, read-only, no room: not damage, and one line for every command
            # that opens a journal (report and status too), never a traceback.
            self._conn.close()
            raise JournalError(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            # A garbage header ("file is not a database") fails the first
            # PRAGMA, before _check: every command that opens a journal says so in one line.
            self._conn.close()
            raise JournalDamaged(self.path, str(exc)) from None
        except BaseException:
            self._conn.close()
            raise
        # One thread owns the connection from here on: the event loop never
        # waits for SQLite, and every transaction begins and ends in one call.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"journal {path.name}")
        self._writer = self._executor.submit(threading.get_ident).result()
        self._guard = threading.Lock()
        """Held while a write joins `_pending` and its log, and while a batch is taken."""
        self._pending: list[tuple[str, tuple[object, ...]]] = []
        self._stuck: tuple[list[tuple[str, tuple[object, ...]]], int] | None = None
        """A batch taken but not committed yet (busy, disk full), with the log that holds it."""
        self._queued = False
        self.failure: JournalError | None = None
        """Why the last background commit failed (not for a busy lock): writes then raise it."""
        self.intents_path = path.with_name(path.name + INTENTS_SUFFIX)
        self._logs: list[int] = []
        """The two logs of marks and answers, open only in the one process that sends."""
        self._active = 0
        self._reserve: int | None = None
        """The reserve's file, open while sending (see `_append`)."""
        self._reserved = 0
        """Bytes of the reserve that hold entries."""
        self._no_room: JournalError | None = None
        """The disk filled up while sending: SQLite gets no more commits in this run, so
        that whatever room is left (the reserve) takes the answers still in flight."""
        self._last_commit = time.monotonic()
        self.resumed = False
        """The journal was there before: this run continues an earlier one."""
        self._lock: IO[bytes] | None = None

    def _check(self) -> None:
        """A damaged file is found here, once, not as a crash in the middle of a run."""
        try:
            rows = self._db.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            raise JournalDamaged(self.path, str(exc)) from None
        if rows != [("ok",)]:
            # SQLite's report is several lines ("*** in database main ***", "Page 15: ...").
            lines = str(rows[0][0]).splitlines() if rows else []
            detail = "; ".join(x.strip() for x in lines if x.strip() and "***" not in x)
            raise JournalDamaged(self.path, detail or "it fails SQLite's check")

    def _call(self, fn: Callable[[], _R]) -> _R:
        if self._writer is None or threading.get_ident() == self._writer:
            return fn()  # the constructor, or the journal's thread itself
        return self._executor.submit(fn).result()

    def _add_price_column(self) -> None:
        """deliveries.price (eSMS's TotalPrice), added to journals made before it existed."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "price" not in columns:
            try:
                self._db.execute("ALTER TABLE deliveries ADD COLUMN price TEXT NOT NULL DEFAULT ''")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it first
                    raise

    @classmethod
    def open(
        cls,
        path: Path,
        campaign_id: str,
        *,
        sending: bool = False,
        lock_wait: float = LOCK_WAIT,
        **kwargs: float,
    ) -> Journal:
        """Open or create the journal; refuse one that belongs to another campaign.

        sending=True first takes the campaign's lock (one `send` at a time),
        then folds in the intent log a killed run left: only the lock holder
        may touch that log, or a second process could empty it under a
        running send.
        """
        lock = _take_lock(path, lock_wait) if sending else None
        try:
            journal = cls(path, **kwargs)  # type: ignore[arg-type]
            journal._lock = lock
            known = journal.meta("campaign_id")
        except JournalDamaged as exc:
            if lock is not None:
                lock.close()
            raise JournalDamaged(path, exc.detail, sending=sending) from None
        except sqlite3.DatabaseError as exc:
            if lock is not None:
                lock.close()
            raise UsageError(
                _("{path}: cannot use this journal ({exc})", path=path, exc=exc)
            ) from None
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        if known is not None and known != campaign_id:
            journal.close()
            raise UsageError(
                _(
                    "{path} belongs to campaign {known}, not {campaign_id}: pass "
                    "{opt:campaign_id} {known} to continue it, or choose another {opt:output}",
                    path=path,
                    known=repr(known),
                    campaign_id=repr(campaign_id),
                )
            )
        journal.resumed = known is not None
        if sending:
            try:
                journal.fold_intents()
                journal._open_logs()
            except BaseException:
                journal.close()
                raise
        if known is None:
            journal.set_meta("campaign_id", campaign_id)
            journal.set_meta("schema", SCHEMA_VERSION)
            journal.set_meta(REQUEST_ID_SCHEME, SCHEME)
            journal.commit()
        return journal

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the journal as at one moment (one read transaction).

        A receiver or a send writing meanwhile commits in its own process: a
        report made of several queries must not count one moment's reports
        and price another's.
        """
        self._flush()
        conn = self._conn
        self._call(lambda: conn.execute("BEGIN"))
        try:
            # A deferred transaction takes its snapshot at its first read: now.
            self._db.execute("SELECT COUNT(*) FROM meta").fetchone()
            yield
        finally:
            self._call(lambda: conn.execute("ROLLBACK") if conn.in_transaction else None)

    # --- meta -----------------------------------------------------------------

    @_in_writer
    def meta(self, key: str) -> str | None:
        self._flush()
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- writes ---------------------------------------------------------------

    def sending(self, request_id: str, line: int) -> None:
        """Mark that a request for this row is about to go out."""
        now = self.clock()
        self._write(_SENDING, (request_id, line, now, now))

    def intend(self, request_id: str, line: int) -> None:
        """`sending`, made crash-proof before this returns: only then may the request go out.

        A mark that a crash lost would let a rerun more than 24 hours later
        (when eSMS no longer refuses the RequestId) deliver the message again.
        Committing SQLite for every request costs a quarter of the throughput;
        one append to the intent log (a write() the kernel keeps even if the
        process is killed) costs microseconds. Each commit covers every intent
        before it and empties the log; `open` folds what a crash left in it.
        """
        if not self._logs:
            raise RuntimeError("intend() needs a journal opened for sending")
        now = self.clock()
        entry = f'["i",{time.time_ns()},{_quote(request_id)},{int(line)},{float(now)!r}]'
        self._write(_SENDING, (request_id, line, now, now), log=entry)

    def ambiguous(self, request_id: str) -> None:
        """The last request got no definitive answer: it may have been accepted."""
        # Logged with the answers: lost in a crash, the failure recorded next would
        # read as a definitive refusal and the rerun send under another RequestId.
        self._write(_AMBIGUOUS, (request_id,), log=self._entry("m", request_id))

    def _entry(self, kind: str, *fields: str | int) -> str | None:
        """A log entry for a write a rerun needs, when sending (replayed by `_logged`)."""
        if not self._logs:
            return None
        texts = ",".join(_quote(f) if isinstance(f, str) else str(f) for f in fields)
        return f'["{kind}",{time.time_ns()},{texts}]'

    def record(self, request_id: str, line: int, outcome: Outcome) -> None:
        """The row's outcome for this run, in the answer log at once when sending."""
        now = self.clock()
        params = (
            request_id,
            line,
            outcome.status,
            outcome.code,
            outcome.smsid,
            outcome.message,
            now,
        )
        entry = None
        if self._logs:
            texts = ",".join(_quote(t) for t in (outcome.status, outcome.code, outcome.smsid))
            entry = (
                f'["a",{time.time_ns()},{_quote(request_id)},{int(line)},{texts},'
                f"{_quote(outcome.message)},{float(now)!r}]"
            )
        self._write(_RECORD, params, log=entry)

    @property
    def reports_path(self) -> Path:
        return self.path.with_name(self.path.name + REPORTS_SUFFIX)

    def append_report(self, delivery: Delivery) -> None:
        """Keep a report on disk while SQLite is busy or failing: fold_reports moves it in.

        fsync'd before this returns: the receiver answers eSMS 200 only after,
        and eSMS never sends that report again.
        """
        line = json.dumps(dataclasses.asdict(delivery), ensure_ascii=True) + "\n"
        fd = os.open(self.reports_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # not in the middle of another process's fold
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    @_in_writer
    def fold_reports(
        self, keep_unknown: Callable[[], bool] = lambda: True
    ) -> list[tuple[Delivery, str | None]]:
        """Record the reports append_report kept, then empty its log; what was folded.

        Raises JournalError (the log stays as it was) when the journal is still busy.
        """
        try:
            fd = os.open(self.reports_path, os.O_RDWR)
        except FileNotFoundError:
            return []
        folded: list[tuple[Delivery, str | None]] = []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 1 << 20):
                raw += chunk
            if not raw:
                return []
            for entry in raw.decode("utf-8", errors="replace").splitlines():
                try:
                    fields = json.loads(entry)
                    delivery = Delivery(**{k: str(v) for k, v in fields.items() if k in _REPORT})
                except (ValueError, TypeError, AttributeError):
                    continue  # a line cut short by a crash
                folded.append(
                    (delivery, self.record_delivery(delivery, keep_unknown=keep_unknown()))
                )
            try:
                self.commit()
            except JournalError:
                self.abandon()
                raise
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        return folded

    @_in_writer
    def abandon(self) -> None:
        """Drop what is not committed yet (the receiver keeps it in its reports log)."""
        with self._guard:
            self._pending.clear()
        self._stuck = None
        self.failure = None

    def _write(self, sql: str, params: tuple[object, ...], log: str | None = None) -> None:
        """Queue a write for the next batch; with `log`, on disk before this returns.

        Batches go to SQLite in executemany groups: a third of the cost of
        one execute per write.
        """
        with self._guard:
            # Under the guard: an entry is in the log of the batch it belongs to.
            try:
                if log is not None:
                    # A request not out yet has no claim on the reserve: it stays unsent.
                    self._append(log, in_flight=sql is not _SENDING and sql is not IDENTIFY)
            except JournalError:
                # A mark not on disk: its request must not go out. An answer
                # not on disk is still committed with its batch if SQLite can.
                if sql is not _SENDING:
                    self._pending.append((sql, params))
                raise
            self._pending.append((sql, params))
        if self.failure is not None and self._logs:
            raise self.failure  # a run that sends stops here (other users call commit())
        if not self._queued and time.monotonic() - self._last_commit >= self.commit_interval:
            self._queued = True
            self._executor.submit(self._commit_in_background)

    def _append(self, entry: str, *, in_flight: bool = True) -> None:
        """One entry in the active log: a write() the kernel keeps even if the process dies.

        Each entry starts a new line, so one cut short by a full disk or a
        crash spoils only itself. When the disk is full, the run stops, and
        an entry for a request already out (`in_flight`: its answer) goes
        into the reserve instead: freeing the reserve for the logs would let
        another program, or the result file, take the room first.
        """
        data = ("\n" + entry).encode()
        try:
            written = _write_fd(self._logs[self._active], data)
            if written == len(data):
                return
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise JournalError(self.path, exc) from None
            self._out_of_room()
            if not in_flight or not self._into_reserve(data):
                raise JournalError(self.path, exc) from None

    def _into_reserve(self, data: bytes) -> bool:
        """Write over the reserve's allocated blocks, which needs no new room; False if full."""
        if self._reserve is None or self._reserved + len(data) > RESERVE_BYTES:
            return False
        try:
            written = os.pwrite(self._reserve, data, self._reserved)
        except OSError:
            return False
        self._reserved += written
        return written == len(data)

    @property
    def log_paths(self) -> list[Path]:
        """The two logs of marks and answers."""
        return [self.intents_path, self.intents_path.with_name(self.intents_path.name + "-1")]

    @property
    def reserve_path(self) -> Path:
        return self.path.with_name(self.path.name + RESERVE_SUFFIX)

    def _open_logs(self) -> None:
        """The logs, and the reserve: without it no request goes out (JournalError)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self._logs = [os.open(p, flags, 0o644) for p in self.log_paths]
        reserve = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            # Real blocks, not a sparse file: writing over them later needs no room.
            os.posix_fallocate(reserve, 0, RESERVE_BYTES)
        except OSError as exc:
            os.close(reserve)
            self.reserve_path.unlink(missing_ok=True)
            # Too full to keep answers safe: stop before the first request.
            raise JournalError(self.path, exc) from None
        self._reserve, self._reserved = reserve, 0

    def _close_reserve(self, *, committed: bool) -> None:
        """Give the room back, unless the reserve holds entries not committed yet."""
        if self._reserve is None:
            return
        os.close(self._reserve)
        self._reserve = None
        if committed or self._reserved == 0:
            self.reserve_path.unlink(missing_ok=True)

    def _out_of_room(self) -> None:
        if self._logs and self._no_room is None:
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
        """Commit every queued write, batch by batch (the journal's thread only).

        A batch is taken together with the log that holds its entries (new
        entries go to the other log meanwhile); that log is emptied only
        once the batch is committed, so the batch's entries are on disk all
        along. A failed batch is retried, before any later one, next time.
        """
        while True:
            if self._stuck is None:
                with self._guard:
                    if not self._pending:
                        break
                    batch, self._pending = self._pending, []
                    used = self._active
                    if self._logs:
                        self._active = 1 - used
                self._stuck = (batch, used)
            batch, used = self._stuck
            self._apply(batch)
            self._stuck = None
            if self._logs:
                os.ftruncate(self._logs[used], 0)
        self.failure = None
        self._last_commit = time.monotonic()

    def _apply(self, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        """One transaction, begun and ended here: rolled back when it fails.

        The reserve is not SQLite's to use: when SQLite runs out of room the
        run stops, and the reserve keeps room for the answers still in flight.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, group in itertools.groupby(batch, key=lambda write: write[0]):
                    self._conn.executemany(sql, [params for _, params in group])
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if "disk is full" in str(exc).lower():
                self._out_of_room()
            raise JournalError(self.path, exc) from None

    def _flush(self) -> None:
        """Commit what is queued before a read (which then sees every write made so far).

        A commit that fails here (disk full) leaves the batch queued: the
        read sees what is committed, and the failure stops the run through
        the next write.
        """
        if self._no_room is not None:
            return
        try:
            self._call(self._commit_pending)
        except JournalError as exc:
            if not exc.busy:
                self.failure = exc

    def commit(self) -> None:
        """Commit every write made so far; JournalError if it cannot be."""
        self._call(self._commit_pending)

    @_in_writer
    def fold_intents(self) -> None:
        """Record what a killed run logged but never committed: its marks and its answers.

        Entries are replayed in the order they were made: a mark, then its answer.
        """
        paths = [*self.log_paths, self.reserve_path]
        entries: list[tuple[int, int, tuple[str, tuple[object, ...]]]] = []
        for path in paths:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            # The reserve's unused blocks read as NULs.
            for entry in raw.rstrip(b"\0").decode("utf-8", errors="replace").splitlines():
                write = _logged(entry)
                if write is not None:
                    entries.append((write[0], len(entries), write[1]))
        if entries:
            entries.sort()
            self._apply([write for _, _, write in entries])
        for path in paths:
            if path.exists():
                os.truncate(path, 0)

    def close(self) -> None:
        """Commit and close. What cannot be committed stays in the logs when sending."""
        committed = False
        try:
            self.commit()
            committed = True
        except JournalError:
            if not self._logs:
                raise
        finally:
            self._executor.submit(self._conn.close).result()
            self._executor.shutdown()
            for fd in self._logs:
                os.close(fd)
            self._logs = []
            self._close_reserve(committed=committed)
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None

    # --- reads ----------------------------------------------------------------

    @_in_writer
    def lookup(self, request_ids: Iterable[str]) -> dict[str, Record]:
        """Records for these RequestIds (those the journal has)."""
        self._flush()
        ids = [r for r in request_ids if r]
        found: dict[str, Record] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE request_id IN ({marks})",
                batch,
            ):
                record = Record(*row)
                found[record.request_id] = record
        return found

    @_in_writer
    def count(self) -> int:
        self._flush()
        return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


_REPORT = frozenset(f.name for f in dataclasses.fields(Delivery))


_SENDING = """
INSERT INTO messages (request_id, line, status, attempts, last_sent_at, updated_at)
VALUES (?, ?, 'sending', 1, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    line = excluded.line, status = 'sending', attempts = attempts + 1,
    -- still 'sending': a crash cut the last request short, its fate unknown
    ambiguous_since = CASE WHEN status = 'sending'
                           THEN COALESCE(ambiguous_since, last_sent_at)
                           ELSE ambiguous_since END,
    last_sent_at = excluded.last_sent_at, updated_at = excluded.updated_at
"""

_RECORD = """
INSERT INTO messages (request_id, line, status, code, smsid, message, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    status = excluded.status, code = excluded.code, smsid = excluded.smsid,
    message = excluded.message, updated_at = excluded.updated_at,
    ambiguous_since = CASE WHEN excluded.status = 'accepted'
                           THEN NULL ELSE ambiguous_since END
"""


def _logged(entry: str) -> tuple[int, tuple[str, tuple[object, ...]]] | None:
    """A log entry as (when, write), or None for a line cut short by a crash or a full disk."""
    if not entry.strip():
        return None
    try:
        if entry.startswith("["):
            fields = json.loads(entry)
            kind, ns = fields[0], int(fields[1])
            if kind == "i":
                request_id, line, at = str(fields[2]), int(fields[3]), float(fields[4])
                return ns, (_FOLD_INTENT, (request_id, line, at, at))
            if kind == "a" and len(fields) == 9:
                request_id, line = str(fields[2]), int(fields[3])
                status, code, smsid, message = (str(f) for f in fields[4:8])
                params = (request_id, line, status, code, smsid, message, float(fields[8]))
                return ns, (_RECORD, params)
            if kind in _REPLAYED:
                sql, types = _REPLAYED[kind]
                values = fields[2:]
                if len(values) != len(types):
                    return None
                return ns, (sql, tuple(t(v) for t, v in zip(types, values, strict=True)))
            return None
        # The first format: "request_id<TAB>line<TAB>time", intents only.
        request_id, line_text, at_text = entry.split("\t")
        at = float(at_text)
        return 0, (_FOLD_INTENT, (request_id, int(line_text), at, at))
    except (ValueError, TypeError, IndexError):
        return None


_AMBIGUOUS = """
UPDATE messages SET ambiguous_since = COALESCE(ambiguous_since, last_sent_at)
WHERE request_id = ?
"""

_REPLAYED: dict[str, tuple[str, tuple[Callable[[Any], object], ...]]] = {
    "m": (_AMBIGUOUS, (str,)),
    "n": (ANSWERED, (str,)),
    "d": (IDENTIFY, (str, str, str, str, int, str)),
    "e": (IDENTIFY_TEXT, (str, str, str, str, int, int, str)),
    "x": (ADD_TEXT, (int, str)),
}
"""Log entries replayed as the write they stand for: kind -> (SQL, its parameters' types)."""

_FOLD_INTENT = """
INSERT INTO messages (request_id, line, status, attempts, last_sent_at, updated_at)
VALUES (?, ?, 'sending', 1, ?, ?)
ON CONFLICT (request_id) DO UPDATE SET
    ambiguous_since = CASE
        WHEN status IN ('accepted', 'rejected') THEN ambiguous_since
        ELSE MIN(COALESCE(ambiguous_since, excluded.last_sent_at), excluded.last_sent_at)
    END,
    status = CASE WHEN status IN ('accepted', 'rejected') THEN status ELSE 'sending' END
"""
"""A request announced in the intent log: its fate is unknown unless it is already final."""
