"""Record: the campaign's journal, one SQLite row per message, beside the result file.

Every send outcome goes through here, and the result file is rebuilt from it,
so a run killed at any instant loses nothing a rerun cannot recover:

* before a request goes out, its RequestId is marked `sending`;
* when the answer comes, the outcome replaces the mark.

The journal is made of parts, each in its own module: the tables and their
migrations (schema), the thread that owns the connection and commits in
batches (writer), the logs that hold every mark and answer until it is
committed (crashlog) with room kept for a full disk (reserve), the lock that
lets one `send` at a time (lock), which row each request was for (row_sends)
and eSMS's delivery reports (deliveries). `Journal` opens and closes them
together and records each message's fate.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.journal.checks import CheckBeside, check
from batch_sender.journal.connect import connect, prepared
from batch_sender.journal.crashlog import CrashLog, Identity, answer_entry, intent
from batch_sender.journal.deliveries import DeliveryStore
from batch_sender.journal.errors import JournalDamaged, JournalError
from batch_sender.journal.files import (
    INTENTS_SUFFIX,
    REPORTS_SUFFIX,
    RESERVE_SUFFIX,
    remove_journal,
)
from batch_sender.journal.lock import LOCK_WAIT, take_lock
from batch_sender.journal.records import _COLUMNS, Outcome, Record, is_settled, record_of
from batch_sender.journal.row_sends import REQUEST_ID_SCHEME, SCHEME, RowSends
from batch_sender.journal.running import Claim
from batch_sender.journal.statements import AMBIGUOUS, ANSWERED, RECORD, SENDING
from batch_sender.journal.writer import Writer, in_batches, in_writer


class Journal:
    """A campaign's journal: its messages here, its rows' sends in `rows`, its reports in
    `deliveries`."""

    def __init__(
        self,
        path: Path,
        *,
        commit_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
        read_only: bool = False,
        check_beside: bool = False,
    ) -> None:
        """read_only: for commands that only read (report); writes then fail.
        check_beside: the file's check runs beside the reading (`checking`)."""
        self.path, self.created = path, not path.exists()  # created: under open's lock
        self.clock = clock
        self.checking: CheckBeside | None = None
        conn = connect(path, busy_timeout, read_only=read_only)
        try:
            conn = prepared(conn, path, busy_timeout, read_only=read_only)
            if check_beside:
                self.checking = CheckBeside(path, busy_timeout)
            else:
                check(conn, path)
        except sqlite3.OperationalError as exc:
            # Busy, read-only, no room: not damage, and one line for every command
            # that opens a journal (report and status too), never a traceback.
            conn.close()
            raise JournalError(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            # A garbage header ("file is not a database") fails the first
            # PRAGMA, before the check: every command that opens a journal says so in one line.
            conn.close()
            raise JournalDamaged(self.path, str(exc)) from None
        except BaseException:
            conn.close()
            raise
        self.log = CrashLog(
            path.with_name(path.name + INTENTS_SUFFIX),
            path.with_name(path.name + RESERVE_SUFFIX),
        )
        # One thread owns the connection from here on: the event loop never
        # waits for SQLite, and every transaction begins and ends in one call.
        self.writer = Writer(conn, path, self.log, commit_interval)
        self.rows = RowSends(self.writer, self.log)
        self.deliveries = DeliveryStore(
            self.writer, clock, path.with_name(path.name + REPORTS_SUFFIX)
        )
        self.resumed = False
        """The journal was there before: this run continues an earlier one."""
        self._lock: IO[bytes] | None = None
        self.claim = Claim(self.writer)

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
        running send (one whose lock file was deleted: `Claim` refuses then).
        """
        if path.is_dir():
            raise UsageError(
                _(
                    "{path} is a folder where the campaign's journal belongs: move it aside "
                    "(or choose another {opt:output}), then rerun",
                    path=path,
                )
            )
        lock = take_lock(path, lock_wait) if sending else None
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
                journal.claim.take(path)
                journal.fold_intents()
                journal._open_logs()
            except BaseException:
                journal.close()
                raise
        if known is None:
            journal.set_meta("campaign_id", campaign_id)
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
        self.writer.flush()
        conn = self.writer.conn
        self.writer.call(lambda: conn.execute("BEGIN"))
        try:
            # A deferred transaction takes its snapshot at its first read: now.
            self.writer.execute("SELECT COUNT(*) FROM meta").fetchone()
            yield
        finally:
            self.writer.call(lambda: conn.execute("ROLLBACK") if conn.in_transaction else None)

    @property
    def failure(self) -> JournalError | None:
        """Why the last background commit failed (not for a busy lock): writes then raise it."""
        return self.writer.failure

    @property
    def log_paths(self) -> list[Path]:
        """The two logs of marks and answers."""
        return self.log.paths

    @property
    def reserve_path(self) -> Path:
        return self.log.reserve.path

    def _open_logs(self) -> None:
        """The logs, and the reserve: without it no request goes out (JournalError)."""
        try:
            self.log.open()
        except OSError as exc:
            # Too full to keep answers safe: stop before the first request.
            raise JournalError(self.path, exc) from None

    def fold_intents(self) -> None:
        """Record what a killed run logged but never committed: its marks and its answers."""

        def fold() -> None:
            writes = self.log.leftovers()
            if writes:
                self.writer.apply(writes)
            self.log.forget_leftovers()

        self.writer.call(fold)

    def commit(self) -> None:
        """Commit every write made so far; JournalError if it cannot be."""
        self.writer.commit()

    def abandon(self) -> None:
        """Drop what is not committed yet (the receiver keeps it in its reports log)."""
        self.writer.abandon()

    def close(self, *, remove: bool = False) -> None:
        """Commit and close. What cannot be committed stays in the logs when sending.

        remove: delete the journal's files too (a campaign refused before it
        started), while the lock is still held: a send waiting on it then
        finds the journal whole or gone, never half deleted.
        """
        committed = False
        try:
            if not remove:
                self.commit()
            committed = True
        except JournalError:
            if not self.log.is_open:
                raise
        finally:
            self.claim.release()
            self.writer.close()
            self.log.close(committed=committed)
            if remove:
                remove_journal(self.path)
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None

    # --- meta -----------------------------------------------------------------

    @in_writer
    def meta(self, key: str) -> str | None:
        self.writer.flush()
        row = self.writer.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.writer.write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- a message's fate -----------------------------------------------------

    def sending(self, request_id: str, line: int) -> None:
        """Mark that a request for this row is about to go out."""
        now = self.clock()
        self.writer.write(SENDING, (request_id, line, now, now))

    def intend(self, request_id: str, line: int, identity: Identity | None = None) -> None:
        """`sending`, made crash-proof before this returns: only then may the request go out.

        A mark that a crash lost would let a rerun more than 24 hours later
        (when eSMS no longer refuses the RequestId) deliver the message again.
        Committing SQLite for every request costs a quarter of the throughput;
        one append to the intent log (a write() the kernel keeps even if the
        process is killed) costs microseconds. Each commit covers every intent
        before it and empties the log; `open` folds what a crash left in it.

        identity: a first attempt's `rows.identity`, in the same entry.
        """
        if not self.log.is_open:
            raise RuntimeError("intend() needs a journal opened for sending")
        writes, entry = intent(request_id, line, self.clock(), identity)
        self.writer.write_all(writes, log=entry, in_flight=False, mark=True)

    def ambiguous(self, request_id: str) -> None:
        """The last request got no definitive answer: it may have been accepted."""
        # Logged with the answers: lost in a crash, the failure recorded next would
        # read as a definitive refusal and the rerun send under another RequestId.
        self.writer.write(AMBIGUOUS, (request_id,), log=self.log.entry("m", request_id))

    def answered(self, request_id: str) -> None:
        """This attempt got a definitive answer that is not an acceptance (160, 429...).

        The next attempt then does not take it for one that may have reached eSMS.
        """
        # Logged: lost, the request would stay `sending` and a later 124 pass for ours.
        self.writer.write(ANSWERED, (request_id,), log=self.log.entry("n", request_id))

    def record(self, request_id: str, line: int, outcome: Outcome) -> None:
        """The row's outcome for this run, in the answer log at once when sending."""
        now = self.clock()
        fate = (outcome.status, outcome.code, outcome.smsid, outcome.message)
        entry = answer_entry(request_id, line, *fate, now) if self.log.is_open else None
        self.writer.write(RECORD, (request_id, line, *fate, now), log=entry)

    # --- reads ----------------------------------------------------------------

    @in_writer
    def lookup(
        self, request_ids: Iterable[str], lines: tuple[int, int] | None = None
    ) -> dict[str, Record]:
        """Records for these RequestIds (those the journal has).

        lines: the sheet lines (first, last) these requests are likely for
        (a chunk's): they are read as one range, in the order they are
        stored, and only the rest one by one.
        """
        self.writer.flush()
        wanted = {r for r in request_ids if r}
        found: dict[str, Record] = {}
        if lines is not None and wanted:
            rows = self.writer.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE line BETWEEN ? AND ?", lines
            ).fetchall()
            found = {row[0]: record_of(row) for row in rows if row[0] in wanted}
        rest = [r for r in wanted if r not in found] if found else wanted
        for batch, marks in in_batches(rest):
            for row in self.writer.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE request_id IN ({marks})",
                batch,
            ):
                record = record_of(row)
                found[record.request_id] = record
        return found

    @in_writer
    def count(self) -> int:
        self.writer.flush()
        return int(self.writer.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


@in_writer
def settled(journal: Journal, request_ids: Iterable[str], lines: tuple[int, int]) -> set[str]:
    """Those of these RequestIds whose message is final or may have reached eSMS.

    Such a row's RequestId is its current try (see `decide`): the row is
    never one whose earlier send stands. No Records: a rerun asks it of every row.
    """
    journal.writer.flush()
    wanted = {r for r in request_ids if r}
    columns = "request_id, status, ambiguous_since"
    in_range = f"SELECT {columns} FROM messages WHERE line BETWEEN ? AND ?"
    rows = list(journal.writer.execute(in_range, lines))
    seen = {row[0] for row in rows}
    for batch, marks in in_batches(r for r in wanted if r not in seen):
        by_id = f"SELECT {columns} FROM messages WHERE request_id IN ({marks})"
        rows.extend(journal.writer.execute(by_id, batch))
    return {r for r, status, since in rows if r in wanted and is_settled(status, since)}
