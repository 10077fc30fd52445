"""Which sheet row, content and scope each request was for, and the queries on it.

A rerun finds a row's earlier send by the row, not only by RequestId: a row
whose content changed gets a new RequestId, and must still not go out twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable

from batch_sender.journal.crashlog import CrashLog, Identity, identity_write
from batch_sender.journal.records import _COLUMNS, Record
from batch_sender.journal.statements import (
    ADD_TEXT,
    SENT_WITH,
    text_id,
)
from batch_sender.journal.writer import Writer, in_batches, in_writer

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


TEXTS_REMEMBERED = 4096
"""Distinct texts whose storing a send remembers, so as not to write them again."""


class RowSends:
    """What was sent for which sheet row: written as each request goes out, asked by reruns.

    Kept apart from the journal's messages so that each can change alone.
    """

    def __init__(self, writer: Writer, log: CrashLog) -> None:
        self.writer = writer
        self.log = log
        self._texts_written: set[int] = set()
        """Texts this process has stored lately: a template's few variants are written once,
        however many rows (at most TEXTS_REMEMBERED: a campaign whose every row has a text
        of its own would otherwise hold a key per row for nothing)."""

    def request_id_scheme(self) -> str:
        self.writer.flush()
        row = self.writer.execute(
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
        params, key = self.identity(row_key, user_id, content_id, oaid, sandbox, text)
        texts = () if key is None else (key,)
        # Logged: a rerun finds the row's send by it, a lost one would send the row again.
        entry = self.log.entry("d" if key is None else "e", *params, *texts, request_id)
        self.writer.write(*identity_write(request_id, params, key), log=entry, in_flight=False)

    def identity(
        self,
        row_key: str,
        user_id: str,
        content_id: str,
        oaid: str,
        sandbox: bool,
        text: str | None = None,
    ) -> Identity:
        """What `identify` writes: `Journal.intend` can log it with the mark, in one entry."""
        key = None if text is None else self._text_key(text)
        return (row_key, user_id, content_id, oaid, int(sandbox)), key

    def _text_key(self, text: str) -> int:
        """The text's key, the text stored under it the first time this process meets it."""
        key = text_id(text)
        if key not in self._texts_written:
            # Not logged: a kill loses at most the texts of the last commit's rows, which
            # then show a blank sent_text if ever kept; logging each costs the send 10%.
            self.writer.write(ADD_TEXT, (key, text))
            if len(self._texts_written) >= TEXTS_REMEMBERED:
                self._texts_written.clear()  # INSERT OR IGNORE: a text written again is harmless
            self._texts_written.add(key)
        return key

    @in_writer
    def adopt(
        self, records: list[Record], texts: dict[str, str], meta_key: str, meta_value: str
    ) -> None:
        """Take in the sends a result file shows (its journal lost), all or none of them.

        One transaction with the meta that says it is done: a kill halfway leaves
        a journal with no sends, and the rerun adopts the file again.
        """
        self.writer.flush()
        db = self.writer
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_ADOPT, [(*r, r.last_sent_at or 0.0) for r in records])
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
        self.writer.flush()
        found: dict[str, str] = {}
        for batch, marks in in_batches(request_ids):
            try:
                rows = self.writer.execute(
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

    def sends(self, row_keys: Iterable[str], oaid: str, sandbox: bool) -> dict[str, Record]:
        """row_key -> its latest request in this scope that was accepted or may have been."""
        return {r.row_key: r for r in self._reached("row_key", row_keys, oaid, sandbox)}

    def followers_sent(
        self, user_ids: Iterable[str], oaid: str, sandbox: bool
    ) -> dict[str, Record]:
        """user_id -> a request of this scope that reached it or may have, by any row.

        One message per follower per campaign: a row new to the journal is not
        sent to a follower another row of the campaign already went to.
        """
        return {r.user_id: r for r in self._reached("user_id", set(user_ids), oaid, sandbox)}

    def _reached(
        self, column: str, values: Iterable[str], oaid: str, sandbox: bool
    ) -> list[Record]:
        """Requests of this scope accepted or that may have been, whose `column` is in `values`.

        Accepted last, the latest last: made into a dict, that one wins. Only
        requests identified by their row (`row_key != ''`, as the partial
        indexes on row_key and user_id say: SQLite uses them only then).
        """
        self.writer.flush()
        found: list[Record] = []
        for batch, marks in in_batches(values):
            rows = self.writer.execute(
                f"""
                SELECT {_COLUMNS} FROM messages
                WHERE {column} IN ({marks}) AND row_key != '' AND oaid = ? AND sandbox = ?
                  AND (status IN ('accepted', 'sending') OR
                       (status != 'rejected' AND ambiguous_since IS NOT NULL))
                ORDER BY status = 'accepted', updated_at
                """,
                (*batch, oaid, int(sandbox)),
            )
            found.extend(Record(*row) for row in rows)
        return found

    def has_any(self, oaid: str, sandbox: bool) -> bool:
        """Any request in this scope identified by its sheet row (none: a first run)."""
        self.writer.flush()
        row = self.writer.execute(
            "SELECT 1 FROM messages WHERE row_key != '' AND oaid = ? AND sandbox = ? LIMIT 1",
            (oaid, int(sandbox)),
        ).fetchone()
        return row is not None

    def sent_count(self, oaid: str, sandbox: bool) -> int:
        """Sheet rows with an accepted request in this scope."""
        self.writer.flush()
        row = self.writer.execute(
            """
            SELECT COUNT(DISTINCT row_key) FROM messages
            WHERE row_key != '' AND status = 'accepted' AND oaid = ? AND sandbox = ?
            """,
            (oaid, int(sandbox)),
        ).fetchone()
        return int(row[0])

    def remember_scope(self, oaid: str, sandbox: bool) -> None:
        """Where the last send went: its result file shows that scope's sends."""
        self.writer.write(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (LAST_SCOPE, f"{int(sandbox)}:{oaid}"),
        )

    def last_scope(self) -> tuple[str, bool] | None:
        self.writer.flush()
        row = self.writer.execute("SELECT value FROM meta WHERE key = ?", (LAST_SCOPE,)).fetchone()
        if row is None:
            return None
        sandbox, _, oaid = str(row[0]).partition(":")
        return oaid, sandbox == "1"

    @in_writer
    def senders(
        self, request_ids: Iterable[str], lines: tuple[int, int] | None
    ) -> dict[str, tuple[str, str]]:
        """RequestId -> (user_id, row_key) for those of these the journal has.

        lines: the sheet lines (first, last) these requests are likely for (a
        result file's chunk): read as one range, only the rest one by one. Two
        columns, no Records: `report` asks it of every row of the campaign.
        """
        self.writer.flush()
        wanted = {r for r in request_ids if r}
        found: dict[str, tuple[str, str]] = {}
        columns = "request_id, user_id, row_key"
        if lines is not None and wanted:
            in_range = f"SELECT {columns} FROM messages WHERE line BETWEEN ? AND ?"
            for rid, user_id, row_key in self.writer.execute(in_range, lines):
                if rid in wanted:
                    found[rid] = (user_id, row_key)
        for batch, marks in in_batches(r for r in wanted if r not in found):
            by_id = f"SELECT {columns} FROM messages WHERE request_id IN ({marks})"
            for rid, user_id, row_key in self.writer.execute(by_id, batch):
                found[rid] = (user_id, row_key)
        return found

    def sends_not_shown(self, row_keys: set[str]) -> list[Record]:
        """Accepted sends (of the last send's scope) of rows other than `row_keys`.

        `row_keys`: the rows a result file's RequestIds were sent for (see
        `senders`); what this returns are the sends of rows deleted from the
        sheet since (they stay in the journal).
        """
        scope = self.last_scope()
        return [] if scope is None else self.sends_not_in(row_keys, *scope)

    @in_writer
    def sends_not_in(self, row_keys: set[str], oaid: str, sandbox: bool) -> list[Record]:
        """Accepted requests of rows other than `row_keys` (rows deleted since), by line.

        The rows' keys are compared here, not in SQL: a temporary table of a
        big campaign's keys costs more to fill than the whole look-up.
        """
        self.writer.flush()
        accepted = "status = 'accepted' AND row_key != '' AND oaid = ? AND sandbox = ?"
        scope = (oaid, int(sandbox))
        keys = self.writer.execute(f"SELECT DISTINCT row_key FROM messages WHERE {accepted}", scope)
        gone = [key for (key,) in keys if key not in row_keys]
        found: list[Record] = []
        for batch, marks in in_batches(gone):
            rows = self.writer.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE {accepted} AND row_key IN ({marks})",
                (*scope, *batch),
            )
            found.extend(Record(*row) for row in rows)
        return sorted(found, key=lambda record: record.line)
