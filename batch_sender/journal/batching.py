"""A batch of journal writes as a few set statements, each one SQLite step.

CPython's sqlite3 lets go of the GIL for every step, so a batch run as one
statement per write (an executemany of one-row groups: a send's writes come
interleaved, SENDING, IDENTIFY, RECORD for one request after another) hands
the GIL to the event loop and back four times per message. Measured on a
20,000-row send, that was a fifth of the run's CPU time. Here a batch is
regrouped so that each group is one multi-row statement.

Regrouping must not change what the batch leaves in the journal. Every write
the send makes touches one row, named by its key (a RequestId, or a text's
id), so two writes on different keys commute. A write's *round* is how many
writes on its key came before it in the batch: running round 0, then round 1,
and so on keeps each key's writes in their order, and within a round no key
is written twice, so a multi-row statement never meets the same row twice.
Any other statement (meta, deliveries) is a barrier: what is before it runs
before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from batch_sender.journal.crashlog import Write
from batch_sender.journal.statements import (
    ADD_TEXT,
    AMBIGUOUS,
    ANSWERED,
    FOLD_INTENT,
    IDENTIFY,
    IDENTIFY_TEXT,
    RECORD,
    SENDING,
    SENT_WITH,
)

Params = tuple[object, ...]

PARAMETERS = 999
"""Bound parameters per statement: SQLite's limit before 3.32 (32,766 since)."""

SET_FORMS = sqlite3.sqlite_version_info >= (3, 33)
"""UPDATE ... FROM, which the multi-row updates need, came in SQLite 3.33."""


def _values(sql: str) -> Callable[[int], str]:
    """An INSERT of one VALUES tuple as an INSERT of n tuples."""
    start = sql.index("VALUES (") + len("VALUES ")
    end = sql.index(")", start) + 1
    head, one, tail = sql[:start], sql[start:end], sql[end:]
    return lambda n: head + ", ".join([one] * n) + tail


def _update_from(*columns: str) -> Callable[[int], str]:
    """An UPDATE of `columns` by request_id (the last parameter) for n rows at once."""
    named = (*columns, "request_id")
    one = "(" + ", ".join("?" * len(named)) + ")"
    head = f"WITH v({', '.join(named)}) AS (VALUES "
    sets = ", ".join(f"{column} = v.{column}" for column in columns)
    tail = f") UPDATE messages SET {sets} FROM v WHERE messages.request_id = v.request_id"
    return lambda n: head + ", ".join([one] * n) + tail


def _update_in(sql: str) -> Callable[[int], str]:
    """An UPDATE `WHERE request_id = ?` as one for n RequestIds."""
    head, tail = sql.split("request_id = ?")
    return lambda n: head + "request_id IN (" + ",".join("?" * n) + ")" + tail


_IDENTITY = ("row_key", "user_id", "content_id", "oaid", "sandbox")

KEYED: dict[str, int] = {
    SENDING: 0,
    RECORD: 0,
    FOLD_INTENT: 0,
    AMBIGUOUS: 0,
    ANSWERED: 0,
    IDENTIFY: 5,
    IDENTIFY_TEXT: 6,
    SENT_WITH: 1,
    ADD_TEXT: 0,
}
"""The statements that touch one row, each with where its key is among its parameters."""

_MANY: dict[str, Callable[[int], str]] = {
    SENDING: _values(SENDING),
    RECORD: _values(RECORD),
    FOLD_INTENT: _values(FOLD_INTENT),
    ADD_TEXT: _values(ADD_TEXT),
    AMBIGUOUS: _update_in(AMBIGUOUS),
    ANSWERED: _update_in(ANSWERED),
}
if SET_FORMS:
    _MANY |= {
        IDENTIFY: _update_from(*_IDENTITY),
        IDENTIFY_TEXT: _update_from(*_IDENTITY, "text_id"),
        SENT_WITH: _update_from("text_id"),
    }


def groups(batch: list[Write]) -> Iterator[tuple[str, list[Params]]]:
    """The batch as (statement, rows) groups whose run leaves what the batch in order would."""
    segment: list[Write] = []
    for write in batch:
        if write[0] in KEYED:
            segment.append(write)
            continue
        yield from _rounds(segment)
        segment = []
        yield write[0], [write[1]]
    yield from _rounds(segment)


def _rounds(segment: list[Write]) -> Iterator[tuple[str, list[Params]]]:
    seen: dict[tuple[bool, object], int] = {}
    rounds: list[dict[str, list[Params]]] = []
    for sql, params in segment:
        # A text's id and a RequestId never name the same row.
        key = (sql == ADD_TEXT, params[KEYED[sql]])
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append({})
        rounds[n].setdefault(sql, []).append(params)
    for round_ in rounds:
        yield from round_.items()


LARGEST = 128
"""Rows in one statement at most (fewer when SQLite's parameter limit says so)."""


def sizes(rows: int, largest: int) -> Iterator[int]:
    """`rows` as statements of `largest` rows, then of powers of two for the rest.

    A few sizes only: sqlite3 keeps each statement text it prepared (128 of
    them), and one text per group size held 16 MB of statements at 200,000 rows.
    """
    while rows >= largest:
        yield largest
        rows -= largest
    size = largest
    while rows:
        size //= 2
        if rows >= size:
            yield size
            rows -= size


def run(conn: sqlite3.Connection, sql: str, rows: list[Params]) -> None:
    """One group: as few multi-row statements as SQLite's parameter limit allows."""
    many = _MANY.get(sql)
    if many is None or len(rows) == 1:
        conn.executemany(sql, rows)
        return
    largest = LARGEST
    while largest * len(rows[0]) > PARAMETERS:
        largest //= 2
    start = 0
    for size in sizes(len(rows), largest):
        chunk = rows[start : start + size]
        start += size
        if size == 1:
            conn.execute(sql, chunk[0])
        else:
            conn.execute(many(size), [value for params in chunk for value in params])
