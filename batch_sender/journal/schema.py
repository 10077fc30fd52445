"""The journal's tables, and the numbered steps that bring an older journal up to date.

A journal outlives the version of batch-sender that made it: a campaign
continued months later, a result file reported on from an archive. Each
step only adds (tables, columns with defaults), so what an older journal
holds is read as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA = "schema"
"""Meta key: the journal's schema version (absent in the first journals: version 1)."""


SCHEMA_VERSION = "5"


TABLES = """
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
"""Version 1's tables: a new journal is made as version 1 was, then takes every step."""


_IDENTITY_COLUMNS = (
    ("row_key", "TEXT NOT NULL DEFAULT ''"),
    ("user_id", "TEXT NOT NULL DEFAULT ''"),
    ("content_id", "TEXT NOT NULL DEFAULT ''"),
    ("oaid", "TEXT NOT NULL DEFAULT ''"),
    ("sandbox", "INTEGER NOT NULL DEFAULT 0"),
)


def _add_columns(db: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """The columns the table lacks: journals marked version 1 were made with or without them."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _to_2(db: sqlite3.Connection) -> None:
    """Version 2: each delivery's price, each request's row, scope and text.

    deliveries.price is eSMS's TotalPrice. The identity columns say which
    sheet row, content and scope a request was for (old rows get defaults:
    no row, so a rerun finds their sends by RequestId only). The text each
    request went out with is kept once per distinct text: a campaign's rows
    often share one text, or a template's few variants, and each request
    points at it (8 bytes a row).
    """
    _add_columns(db, "deliveries", (("price", "TEXT NOT NULL DEFAULT ''"),))
    _add_columns(db, "messages", (*_IDENTITY_COLUMNS, ("text_id", "INTEGER")))
    db.execute(
        "CREATE INDEX IF NOT EXISTS messages_row_key ON messages (row_key) WHERE row_key != ''"
    )
    db.execute("CREATE TABLE IF NOT EXISTS sent_texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")


def _to_3(db: sqlite3.Connection) -> None:
    """Version 3: messages by sheet line, so that a chunk of the sheet is one range read.

    A RequestId is a digest: looking up a chunk's rows one by one reads
    pages all over a big journal (a rerun of 200,000 rows then costs far
    more per row than one of 20,000), while their lines are neighbours.
    Lines only grow as a run sends, so the index costs little to keep.
    """
    db.execute("CREATE INDEX IF NOT EXISTS messages_line ON messages (line)")


def _to_4(db: sqlite3.Connection) -> None:
    """Version 4: requests by follower, so that "was this follower sent to" is no scan.

    Each chunk of a rerun asks it for its followers: without an index, a
    scan of the whole journal each time (1.7 s a chunk at 600,000 sends).
    Partial, as messages_row_key: only requests identified by their row
    answer it.
    """
    db.execute(
        "CREATE INDEX IF NOT EXISTS messages_user_id ON messages (user_id) WHERE row_key != ''"
    )


def _to_5(db: sqlite3.Connection) -> None:
    """Version 5: the follower and OA each delivery report names, to find a row eSMS gave no SMSID.

    A row accepted through 124 (its first request's answer lost to a kill)
    has no SMSID, the only key eSMS's reports carry (their RequestId is
    empty); the report's phonenumber is the follower's user_id. The partial
    index holds only those rows, rare, so looking for them costs nothing.
    """
    _add_columns(
        db,
        "deliveries",
        (("user_id", "TEXT NOT NULL DEFAULT ''"), ("oaid", "TEXT NOT NULL DEFAULT ''")),
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS deliveries_user_id ON deliveries (user_id) WHERE user_id != ''"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS messages_no_smsid ON messages (user_id) "
        "WHERE status = 'accepted' AND smsid = ''"
    )


MIGRATIONS: dict[str, tuple[str, Callable[[sqlite3.Connection], None]]] = {
    "1": ("2", _to_2),
    "2": ("3", _to_3),
    "3": ("4", _to_4),
    "4": ("5", _to_5),
}
"""Schema version -> (the next version, the step that makes it)."""


def create_or_migrate(db: sqlite3.Connection) -> None:
    """Make the tables, or bring a journal made by an earlier version up to SCHEMA_VERSION.

    One transaction: another process opening the same journal meanwhile (the
    callback receiver beside a send) waits, then finds it up to date. A
    journal already up to date is only read: opening it never waits for a
    send's commit.
    """
    if _version(db) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in TABLES.split(";"):
            if statement.strip():
                db.execute(statement)
        version = _version(db) or "1"
        while version in MIGRATIONS:
            version, step = MIGRATIONS[version]
            step(db)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SCHEMA, version))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def is_current(db: sqlite3.Connection) -> bool:
    """The journal needs no step: every query of this version reads it as it is."""
    return _version(db) == SCHEMA_VERSION


def _version(db: sqlite3.Connection) -> str | None:
    """The journal's schema version; None before its tables exist."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return "1" if row is None else str(row[0])
