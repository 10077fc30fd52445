"""A connection to a journal, ready for this version's queries.

A writer's journal is in WAL mode and migrated to this version's schema. A
reader's (report, status on an archive) is never written unless it is older
than this version: then it is brought up to date where it lies, or, on a
read-only disk, read from an up-to-date copy in memory.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batch_sender.journal.errors import JournalDamaged
from batch_sender.journal.read_only import connect_read_only
from batch_sender.journal.schema import create_or_migrate, is_current


def connect(path: Path, busy_timeout: float, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        try:
            return connect_read_only(path, busy_timeout)
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            raise JournalDamaged(path, str(exc)) from None
    # timeout: another process (send, callbacks, status) may hold the write lock a moment.
    return sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )


def _brought_up_to_date(
    conn: sqlite3.Connection, path: Path, busy_timeout: float
) -> sqlite3.Connection:
    """A read-only connection to an older journal, in this version's tables.

    This version's queries name columns an older journal lacks. Where the
    folder allows it, the journal is brought up to date where it lies, as a
    rerun would; an archive on a read-only disk is copied into memory and the
    copy brought up to date, the file left as it was.
    """
    conn.close()
    try:
        writable = connect(path, busy_timeout, read_only=False)
        try:
            create_or_migrate(writable)
        finally:
            writable.close()
    except sqlite3.OperationalError:  # read-only: the folder, the disk or the file
        source = connect(path, busy_timeout, read_only=True)
        copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            source.backup(copy)
            create_or_migrate(copy)
        except BaseException:
            copy.close()
            raise
        finally:
            source.close()
        return copy
    return connect(path, busy_timeout, read_only=True)


def prepared(
    conn: sqlite3.Connection, path: Path, busy_timeout: float, *, read_only: bool
) -> sqlite3.Connection:
    """The connection to use: `conn` set up for writing, or one that reads this version's tables."""
    if read_only:
        return conn if is_current(conn) else _brought_up_to_date(conn, path, busy_timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process; only power loss can drop
    # the last commits, and those are recoverable (the crash logs).
    conn.execute("PRAGMA synchronous=NORMAL")
    create_or_migrate(conn)
    return conn
