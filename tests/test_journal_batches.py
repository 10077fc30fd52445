"""A batch of journal writes leaves the journal exactly as the writes one by one would.

The writer regroups a batch into multi-row statements (journal/batching.py);
a regrouping that reordered two writes of one message would turn a retried
request's `sending` back into its first attempt's failure, or lose an SMSID.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from batch_sender.journal import batching
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
from batch_sender.journal.store import Journal

request_id = st.sampled_from(["r1", "r2", "r3", "r4"])
text = st.sampled_from([11, -7, 2**63 - 1])
at = st.floats(1.7e9, 1.8e9)
status = st.sampled_from(["accepted", "rejected", "failed", "sending"])
code = st.sampled_from(["100", "124", "160", ""])

write = st.one_of(
    st.builds(lambda r, n, t: (SENDING, (r, n, t, t)), request_id, st.integers(2, 9), at),
    st.builds(lambda r, n, t: (FOLD_INTENT, (r, n, t, t)), request_id, st.integers(2, 9), at),
    st.builds(
        lambda r, n, s, c, t: (RECORD, (r, n, s, c, f"sms-{r}-{c}", f"because {c}", t)),
        request_id,
        st.integers(2, 9),
        status,
        code,
        at,
    ),
    st.builds(lambda r: (AMBIGUOUS, (r,)), request_id),
    st.builds(lambda r: (ANSWERED, (r,)), request_id),
    st.builds(
        lambda r, k, s: (IDENTIFY, (f"row-{k}", f"78{k}", r, "oa", s, r)),
        request_id,
        st.integers(0, 3),
        st.integers(0, 1),
    ),
    st.builds(
        lambda r, k, t: (IDENTIFY_TEXT, (f"row-{k}", f"78{k}", r, "oa", 0, t, r)),
        request_id,
        st.integers(0, 3),
        text,
    ),
    st.builds(lambda r, t: (SENT_WITH, (t, r)), request_id, text),
    st.builds(lambda t: (ADD_TEXT, (t, f"text {t}")), text),
    # Statements the regrouping does not know: barriers.
    st.builds(
        lambda r: ("UPDATE messages SET smsid = ? WHERE request_id = ? AND smsid = ''", ("s", r)),
        request_id,
    ),
    st.builds(
        lambda v: ("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", ("k", v)),
        st.sampled_from(["a", "b"]),
    ),
)


def _state(conn: sqlite3.Connection) -> list[list[tuple[object, ...]]]:
    return [
        conn.execute("SELECT * FROM messages ORDER BY request_id").fetchall(),
        conn.execute("SELECT * FROM sent_texts ORDER BY id").fetchall(),
        conn.execute("SELECT * FROM meta WHERE key = 'k'").fetchall(),
    ]


def _one_by_one(journal: Journal, writes: list[Write]) -> None:
    def run() -> None:
        for sql, params in writes:
            journal.writer.conn.execute(sql, params)
        journal.writer.conn.commit()

    journal.writer.call(run)


@settings(max_examples=300, deadline=None)
@given(st.lists(write, max_size=40))
def test_a_regrouped_batch_leaves_what_its_writes_in_order_leave(writes: list[Write]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        grouped = Journal(Path(folder) / "grouped.sqlite")
        ordered = Journal(Path(folder) / "ordered.sqlite")
        try:
            grouped.writer.call(lambda: grouped.writer.apply(writes))
            _one_by_one(ordered, writes)
            assert grouped.writer.call(lambda: _state(grouped.writer.conn)) == (
                ordered.writer.call(lambda: _state(ordered.writer.conn))
            )
        finally:
            grouped.close()
            ordered.close()


def test_a_send_s_batch_is_a_few_statements_with_each_message_s_writes_in_order() -> None:
    # 500 messages as a send interleaves them: mark, identify, answer; a retried one twice.
    writes: list[Write] = []
    for n in range(500):
        rid = f"r{n}"
        writes += [
            (SENDING, (rid, n, 1.5, 1.5)),
            (IDENTIFY_TEXT, (f"row{n}", "78", rid, "oa", 0, n % 3, rid)),
            (RECORD, (rid, n, "failed", "", "", "", 2.5)),
            (SENDING, (rid, n, 3.5, 3.5)),
            (RECORD, (rid, n, "accepted", "100", f"s{n}", "", 4.5)),
        ]
    groups = list(batching.groups(writes))
    assert [sql for sql, _ in groups] == [SENDING, IDENTIFY_TEXT, RECORD, SENDING, RECORD]
    assert [rows[7] for _, rows in groups] == [w[1] for w in writes[35:40]]


def test_many_rows_stay_under_sqlite_s_parameter_limit(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    writes: list[Write] = [(SENDING, (f"r{n}", n, 1.0, 1.0)) for n in range(5_000)]
    writes += [(IDENTIFY, ("k", "78", f"r{n}", "oa", 0, f"r{n}")) for n in range(5_000)]
    journal.writer.call(lambda: journal.writer.apply(writes))
    rows = journal.writer.execute(
        "SELECT count(*), count(DISTINCT content_id) FROM messages WHERE row_key = 'k'"
    ).fetchone()
    journal.close()
    assert tuple(rows) == (5_000, 5_000)


def test_groups_of_any_size_take_a_few_statement_sizes_only() -> None:
    # sqlite3 keeps every statement text it prepared: one per group size held 16 MB.
    seen: set[int] = set()
    for rows in range(1, 3_000):
        cut = list(batching.sizes(rows, 128))
        assert sum(cut) == rows
        seen.update(cut)
    assert seen == {1, 2, 4, 8, 16, 32, 64, 128}
