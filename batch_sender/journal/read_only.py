"""Opening a journal for reading only: a campaign archived on a read-only disk or folder.

A WAL journal opened read-only needs its -shm file, which SQLite cannot
create in a read-only folder. Without it, and with no -wal file holding
changes, the journal file alone is the whole journal: SQLite may then read
it as immutable. With such a -wal file it may not (those changes would be
missed), and the caller hears why.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from batch_sender.errors import BatchSenderError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _


class JournalUnreadable(BatchSenderError):
    """The journal's last changes cannot be read where it lies (a read-only folder)."""

    exit_code = ExitCode.STOPPED


def connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection; sqlite3.DatabaseError for a damaged file, as a writable open."""
    uri = "file:" + urllib.parse.quote(str(path.absolute()))
    try:
        return _connect(f"{uri}?mode=ro", timeout)
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc).lower():
            raise JournalUnreadable(_unreadable(path, exc)) from None
    wal = path.with_name(path.name + "-wal")
    try:
        pending = wal.stat().st_size > 0
    except FileNotFoundError:
        pending = False
    if pending:
        raise JournalUnreadable(
            _(
                "{path}: its latest changes are in {wal}, which cannot be read in this "
                "read-only folder without {name}-shm beside it; copy the campaign's "
                "folder somewhere writable and run the command there",
                path=path,
                wal=wal.name,
                name=path.name,
            )
        )
    try:
        return _connect(f"{uri}?immutable=1", timeout)
    except sqlite3.OperationalError as exc:
        raise JournalUnreadable(_unreadable(path, exc)) from None


def _unreadable(path: Path, exc: sqlite3.Error) -> str:
    return _("{path}: cannot read the journal ({reason})", path=path, reason=exc)


def _connect(uri: str, timeout: float) -> sqlite3.Connection:
    """Opened, and read once: SQLite opens files lazily, so a failure shows here."""
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout
    )
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
