"""Which sheet row, content and scope each request was for (issue 11), and the queries on it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from batch_sender.journal.records import _COLUMNS, Record
from batch_sender.journal.writer_calls import _in_writer

if TYPE_CHECKING:
    from batch_sender.journal.writer_calls import _InWriter

_R = TypeVar("_R")

_ADOPT = f"""
INSERT OR REPLACE INTO messages ({_COLUMNS}, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


REQUEST_ID_SCHEME = "request_ids"
"""Meta key: how this campaign derives RequestIds (absent: the legacy scheme)."""


LAST_SCOPE = "last_scope"
"""Meta key: the OAID and sandbox-or-not of the last send (what its result file shows)."""


LEGACY_SCHEME = "1"
"""RequestIds from campaign id and content only (journals made before scheme 2 keep them)."""


SCHEME = "2"
"""RequestIds that also take in where the message goes: the OAID, and sandbox or not."""


_IDENTITY_COLUMNS = (
    ("row_key", "TEXT NOT NULL DEFAULT ''"),
    ("user_id", "TEXT NOT NULL DEFAULT ''"),
    ("content_id", "TEXT NOT NULL DEFAULT ''"),
    ("oaid", "TEXT NOT NULL DEFAULT ''"),
    ("sandbox", "INTEGER NOT NULL DEFAULT 0"),
)


def _add_identity_columns(db: sqlite3.Connection) -> None:
    """Add the identity columns to a journal made before them (old rows get defaults)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    for name, kind in _IDENTITY_COLUMNS:
        if name not in have:
            try:
                db.execute(f"ALTER TABLE messages ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:
                # Another process (callbacks beside send) may have added it just now.
                if "duplicate column" not in str(exc):
                    raise
    db.execute(
        "CREATE INDEX IF NOT EXISTS messages_row_key ON messages (row_key) WHERE row_key != ''"
    )


SCHEMA = "schema"
"""Meta key: the journal's schema version; `migrate` brings an older journal up to date."""


def _to_2_sent_texts(db: sqlite3.Connection) -> None:
    """Version 2: the text each request went out with, kept once per distinct text.

    A campaign's rows often share one text, or a template's few variants: a
    text is stored once and each request points at it (8 bytes a row).
    """
    db.execute("CREATE TABLE IF NOT EXISTS sent_texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    if "text_id" not in {row[1] for row in db.execute("PRAGMA table_info(messages)")}:
        try:
            db.execute("ALTER TABLE messages ADD COLUMN text_id INTEGER")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process migrated it just now
                raise


_MIGRATIONS = {"1": ("2", _to_2_sent_texts)}
"""Schema version -> (the next version, the step that makes it)."""


CURRENT_SCHEMA = "2"


def migrate(db: sqlite3.Connection) -> None:
    """Bring a journal made by an earlier version up to CURRENT_SCHEMA, step by step.

    Each step only adds (tables, columns with defaults): what an older journal
    holds is read as it was. A new journal starts at version 1 and takes every step.
    """
    row = db.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA,)).fetchone()
    version = "1" if row is None else str(row[0])
    while version in _MIGRATIONS:
        version, step = _MIGRATIONS[version]
        step(db)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SCHEMA, version))


def text_id(text: str) -> int:
    """A text's key in sent_texts: 64 bits of its digest (SQLite's signed integer)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


ADD_TEXT = "INSERT OR IGNORE INTO sent_texts (id, text) VALUES (?, ?)"

SENT_WITH = "UPDATE messages SET text_id = ? WHERE request_id = ?"


ANSWERED = "UPDATE messages SET status = 'failed' WHERE request_id = ? AND status = 'sending'"

IDENTIFY = """
UPDATE messages SET row_key = ?, user_id = ?, content_id = ?, oaid = ?, sandbox = ?
WHERE request_id = ?
"""


def in_batches(values: Iterable[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """The non-empty values in batches, each with its `?,?,...` for an IN (...) clause."""
    kept = [v for v in values if v]
    for start in range(0, len(kept), size):
        batch = kept[start : start + size]
        yield batch, ",".join("?" * len(batch))


IDENTIFY_TEXT = """
UPDATE messages SET row_key = ?, user_id = ?, content_id = ?, oaid = ?, sandbox = ?, text_id = ?
WHERE request_id = ?
"""


class RowSends:
    """Queries over what was sent for which sheet row (mixed into Journal).

    Kept apart from the journal's write path so that each can change alone.
    """

    _db: _InWriter
    _texts_written: set[int] | None = None
    """Texts this process has stored already: each is written once, however many rows."""

    def _flush(self) -> None:  # pragma: no cover - Journal's
        raise NotImplementedError

    def _call(self, fn: Callable[[], _R]) -> _R:  # pragma: no cover - Journal's
        raise NotImplementedError

    def _write(
        self, sql: str, params: tuple[object, ...], log: str | None = None
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _entry(self, kind: str, *fields: str | int) -> str | None:  # pragma: no cover
        raise NotImplementedError

    def request_id_scheme(self) -> str:
        self._flush()
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (REQUEST_ID_SCHEME,)
        ).fetchone()
        return LEGACY_SCHEME if row is None else str(row[0])

    def identify(
        self,
        request_id: str,
        row_key: str,
        user_id: str,
        content_id: str,
        oaid: str,
        sandbox: bool,
        text: str | None = None,
    ) -> None:
        """Which row, content, scope and text a request is for (after its `intend`).

        The text is what a row kept from this send shows later in `sent_text`.
        """
        params = (row_key, user_id, content_id, oaid, int(sandbox))
        if text is None:
            # Logged: a rerun finds the row's send by it, a lost one would send the row again.
            self._write(IDENTIFY, (*params, request_id), log=self._entry("d", *params, request_id))
            return
        key = self._text_key(text)
        with_text = (*params, key, request_id)
        self._write(IDENTIFY_TEXT, with_text, log=self._entry("e", *with_text))

    def _text_key(self, text: str) -> int:
        """The text's key, the text stored under it the first time this process meets it."""
        key = text_id(text)
        if self._texts_written is None:
            self._texts_written = set()
        if key not in self._texts_written:
            # Not logged: a kill loses at most the texts of the last commit's rows, which
            # then show a blank sent_text if ever kept; logging each costs the send 10%.
            self._write(ADD_TEXT, (key, text))
            self._texts_written.add(key)
        return key

    @_in_writer
    def adopt(
        self, records: list[Record], texts: dict[str, str], meta_key: str, meta_value: str
    ) -> None:
        """Take in the sends a result file shows (its journal lost), all or none of them.

        One transaction with the meta that says it is done: a kill halfway leaves
        a journal with no sends, and the rerun adopts the file again.
        """
        self._flush()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                _ADOPT, [(*dataclasses.astuple(r), r.last_sent_at or 0.0) for r in records]
            )
            db.executemany(ADD_TEXT, [(text_id(t), t) for t in set(texts.values())])
            db.executemany(SENT_WITH, [(text_id(t), rid) for rid, t in texts.items()])
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (meta_key, meta_value)
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def sent_texts(self, request_ids: Iterable[str]) -> dict[str, str]:
        """RequestId -> the text it went out with, for those the journal knows it of."""
        self._flush()
        found: dict[str, str] = {}
        for batch, marks in in_batches(request_ids):
            try:
                rows = self._db.execute(
                    f"""
                    SELECT m.request_id, t.text FROM messages m
                    JOIN sent_texts t ON t.id = m.text_id
                    WHERE m.request_id IN ({marks})
                    """,
                    batch,
                )
            except sqlite3.OperationalError:
                return {}  # a journal read as it is, from before sent texts were kept
            found.update((str(rid), str(text)) for rid, text in rows)
        return found

    def answered(self, request_id: str) -> None:
        """This attempt got a definitive answer that is not an acceptance (160, 429...).

        The next attempt then does not take it for one that may have reached eSMS.
        """
        # Logged: lost, the request would stay `sending` and a later 124 pass for ours.
        self._write(ANSWERED, (request_id,), log=self._entry("n", request_id))

    def row_sends(self, row_keys: Iterable[str], oaid: str, sandbox: bool) -> dict[str, Record]:
        """row_key -> its latest request in this scope that was accepted or may have been."""
        self._flush()
        found: dict[str, Record] = {}
        for batch, marks in in_batches(row_keys):
            rows = self._db.execute(
                f"""
                SELECT {_COLUMNS} FROM messages
                WHERE row_key IN ({marks}) AND oaid = ? AND sandbox = ?
                  AND (status IN ('accepted', 'sending') OR
                       (status != 'rejected' AND ambiguous_since IS NOT NULL))
                ORDER BY status = 'accepted', updated_at
                """,
                (*batch, oaid, int(sandbox)),
            )
            for row in rows:
                record = Record(*row)
                found[record.row_key] = record  # accepted last, the latest last: it wins
        return found

    def has_row_sends(self, oaid: str, sandbox: bool) -> bool:
        """Any request in this scope identified by its sheet row (none: a first run)."""
        self._flush()
        row = self._db.execute(
            "SELECT 1 FROM messages WHERE row_key != '' AND oaid = ? AND sandbox = ? LIMIT 1",
            (oaid, int(sandbox)),
        ).fetchone()
        return row is not None

    def sent_row_count(self, oaid: str, sandbox: bool) -> int:
        """Sheet rows with an accepted request in this scope."""
        self._flush()
        row = self._db.execute(
            """
            SELECT COUNT(DISTINCT row_key) FROM messages
            WHERE row_key != '' AND status = 'accepted' AND oaid = ? AND sandbox = ?
            """,
            (oaid, int(sandbox)),
        ).fetchone()
        return int(row[0])

    def remember_scope(self, oaid: str, sandbox: bool) -> None:
        """Where the last send went: its result file shows that scope's sends."""
        self._write(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (LAST_SCOPE, f"{int(sandbox)}:{oaid}"),
        )

    def last_scope(self) -> tuple[str, bool] | None:
        self._flush()
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (LAST_SCOPE,)).fetchone()
        if row is None:
            return None
        sandbox, _, oaid = str(row[0]).partition(":")
        return oaid, sandbox == "1"

    def sends_not_shown(self, request_ids: Iterable[str]) -> list[Record]:
        """Accepted sends (of the last send's scope) of rows none of `request_ids` is for.

        `request_ids`: a result file's; what this returns are the sends of
        rows deleted from the sheet since (they stay in the journal).
        """
        scope = self.last_scope()
        return [] if scope is None else self.sends_not_in(request_ids, *scope)

    def sends_not_in(self, request_ids: Iterable[str], oaid: str, sandbox: bool) -> list[Record]:
        """Accepted requests of rows none of `request_ids` was sent for (rows deleted since)."""
        self._flush()
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS shown (request_id TEXT PRIMARY KEY)")
        self._db.execute("DELETE FROM shown")
        self._db.executemany(
            "INSERT OR IGNORE INTO shown VALUES (?)", ((r,) for r in request_ids if r)
        )
        rows = self._db.execute(
            f"""
            SELECT {_COLUMNS} FROM messages
            WHERE status = 'accepted' AND row_key != '' AND oaid = ? AND sandbox = ?
              AND row_key NOT IN (
                SELECT m.row_key FROM messages m JOIN shown s ON s.request_id = m.request_id)
            ORDER BY line
            """,
            (oaid, int(sandbox)),
        )
        return [Record(*row) for row in rows]
