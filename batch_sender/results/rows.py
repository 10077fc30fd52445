"""Result rows: one per input row, the input untouched, then what became of it.

Each output row is the input row untouched, followed by RESULT_COLUMNS. The
files they go into appear whole or not at all (files.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch_sender.check.disposition import DONE, HOLD, KEPT, REPEAT, SEND, SKIP, Disposition
from batch_sender.check.rules import DUPLICATE, EXCLUDED, INVALID, VALID
from batch_sender.errors import InputError
from batch_sender.esms.delivery_report import DELIVERY_COLUMNS
from batch_sender.i18n import N_, _, ngettext
from batch_sender.journal.records import ACCEPTED, FAILED, FINAL, SENDING
from batch_sender.sheet.cells import nfc

RESULT_COLUMNS = [
    "row",
    "status",
    "RequestId",
    "SMSID",
    "CodeResult",
    "ErrorMessage",
    "attempts",
    *DELIVERY_COLUMNS,
]
UNSENT = "unsent"


def report_rows(chunk: pd.DataFrame, checked: pd.DataFrame) -> pd.DataFrame:
    """validate's RESULT_COLUMNS: status valid / invalid / duplicate, nothing sent."""
    valid = checked["status"] == VALID
    index = chunk.index
    blank = texts_column([""] * len(index), index)
    return pd.DataFrame(
        {
            "row": index,
            "status": texts_column(checked["status"].to_numpy(), index),
            "RequestId": texts_column(checked["RequestId"].where(valid, "").to_numpy(), index),
            "SMSID": blank,
            "CodeResult": blank,
            "ErrorMessage": texts_column(checked["ErrorMessage"].to_numpy(), index),
            "attempts": 0,
            "delivery": blank,
            "delivery_error": blank,
            "delivered_at": blank,
        },
        index=index,
    )


def result_rows(
    chunk: pd.DataFrame,
    checked: pd.DataFrame,
    dispositions: list[Disposition],
    *,
    unsent_reason: str,
    deliveries: dict[str, tuple[str, str, str]] | None = None,
) -> pd.DataFrame:
    """send's RESULT_COLUMNS: each row's outcome from its disposition (see disposition.py)."""
    values = [
        _result_values(row_status, error, disposition, unsent_reason)
        for row_status, error, disposition in zip(
            checked["status"].tolist(), checked["ErrorMessage"].tolist(), dispositions, strict=True
        )
    ]
    # Column by column in one transpose: a rerun makes them for every row of the sheet.
    columns: list[tuple[Any, ...]] = list(zip(*values, strict=True)) or [()] * 6
    status, request_id, smsid, code, message, attempts = columns
    extra = pd.DataFrame(
        {
            "row": chunk.index,
            "status": texts_column(status, chunk.index),
            "RequestId": texts_column(request_id, chunk.index),
            "SMSID": texts_column(smsid, chunk.index),
            "CodeResult": texts_column(code, chunk.index),
            "ErrorMessage": texts_column(message, chunk.index),
            "attempts": list(attempts),
        },
        index=chunk.index,
    )
    reported = deliveries or {}
    if not reported:
        blank = texts_column([""] * len(chunk), chunk.index)
        for column in DELIVERY_COLUMNS:
            extra[column] = blank
        return extra
    none = ("", "", "")
    outcomes = [reported.get(rid, none) if rid else none for rid in request_id]
    for i, column in enumerate(DELIVERY_COLUMNS):
        extra[column] = texts_column([outcome[i] for outcome in outcomes], extra.index)
    return extra


def texts_column(values: Sequence[object] | np.ndarray, index: pd.Index) -> pd.Series:
    """A column of strings as plain objects.

    Left to infer (from a list, a scalar, even an object array), pandas 3
    makes strings its str dtype, stored by pyarrow wherever pyarrow is
    installed (a data team's parquet): every cell then crosses into Arrow and
    back. A 200,000-row send took 234 s of CPU and 263 MB so, 104 s and 184 MB
    with plain objects.
    """
    return pd.Series(values, index=index, dtype=object)


def _result_values(
    row_status: str, error: str, disposition: Disposition, unsent_reason: str
) -> tuple[str, str, str, str, str, int]:
    """(status, RequestId, SMSID, CodeResult, ErrorMessage, attempts) of one row."""
    action, record = disposition.action, disposition.record
    if action == DONE and record is not None and record.status in FINAL:
        # First: every row of a finished campaign's rerun is one.
        status = record.status
        smsid = record.smsid if status == ACCEPTED else ""
        return (status, record.request_id, smsid, record.code, record.message, record.attempts)
    if action == SKIP:
        return (row_status, "", "", "", error, 0)
    if action == REPEAT and record is not None:
        return (DUPLICATE, "", "", "", repeat_message(record.line), 0)
    if record is None:
        return (UNSENT, disposition.request_id, "", "", unsent_reason, 0)
    rid = record.request_id
    smsid = record.smsid if record.status == ACCEPTED else ""
    if action == HOLD:
        return (FAILED, rid, "", record.code, _(STALE_MESSAGE), record.attempts)
    if action == KEPT:
        if record.status == ACCEPTED:
            why = kept_message(record.line)
            if row_status != VALID:  # as the sheet has it now, it could not be sent
                why = _(
                    "sent earlier with different content, line {line}; now {error}",
                    line=record.line,
                    error=error,
                )
            return (ACCEPTED, rid, smsid, record.code, why, record.attempts)
        return (FAILED, rid, "", record.code, kept_unknown_message(record.line), record.attempts)
    if record.status == SENDING:
        # Only a crash leaves this; the rerun resends with the same RequestId.
        return (FAILED, rid, "", "", _(NO_ANSWER), record.attempts)
    if action == SEND and record.status not in FINAL and not record.may_have_reached:
        message = "; ".join(filter(None, (record.message, _(DEFINITIVE))))
        return (FAILED, rid, "", record.code, message, record.attempts)
    return (record.status, rid, smsid, record.code, record.message, record.attempts)


def repeat_message(line: int) -> str:
    return _(
        "this follower got another row's message earlier in this campaign (line {line} "
        "then); one message per follower per campaign (--allow-repeats sends repeats on purpose)",
        line=line,
    )


def kept_message(line: int) -> str:
    return _(
        "sent earlier with different content, line {line}; --resend-changed sends the new version",
        line=line,
    )


def kept_unknown_message(line: int) -> str:
    return _(
        "an earlier version of this row (line {line}) may have reached eSMS and its fate is "
        "unknown; --resend-changed sends the new version",
        line=line,
    )


# The row messages a rerun reads back from an earlier result file (results/adoption.py),
# in whichever language that run wrote them.
STALE_MESSAGE = N_(
    "an earlier request got no answer over 24 hours ago and eSMS no longer blocks a repeat, "
    "so it was not sent again; check whether it arrived, then rerun with --resend-stale"
)
NO_ANSWER = N_("no answer recorded: rerun to find out")
DEFINITIVE = N_("a rerun sends it again under a new RequestId")
"""How a failed row's ErrorMessage ends when eSMS refused it (nothing may have reached it)."""

# Every wording these messages have had in a result file, in every language.
# A wording is only ever added here, never changed or removed: a file written
# by an earlier release must read the same (tests/test_rerun_promises.py
# checks that today's catalog adds nothing unlisted).
WRITTEN_STALE = (
    STALE_MESSAGE,
    "yêu cầu trước đó đã quá 24 giờ vẫn chưa có phản hồi và eSMS không còn chặn gửi lặp, "
    "nên chưa gửi lại; hãy kiểm tra xem tin đã đến chưa, rồi chạy lại với --resend-stale",
)
WRITTEN_NO_ANSWER = (NO_ANSWER, "chưa ghi nhận phản hồi nào: chạy lại để biết kết quả")
WRITTEN_DEFINITIVE = (DEFINITIVE, "chạy lại sẽ gửi lại dòng này với RequestId mới")
STALE_MARK = "--resend-stale"
"""In the stale message in every language and wording (an option's name is never
translated), and in no other row message: a row held back stays held back."""


def is_stale(message: str) -> bool:
    """An earlier run held the row back as stale (never sent again without --resend-stale)."""
    return STALE_MARK in message or message in WRITTEN_STALE


def is_no_answer(message: str) -> bool:
    """The row's request went out and no answer was recorded (a crash)."""
    return message in WRITTEN_NO_ANSWER


def is_definitive(message: str) -> bool:
    """eSMS refused the row: nothing of it may have reached a follower."""
    return message.endswith(WRITTEN_DEFINITIVE)


def output_rows(
    chunk: pd.DataFrame,
    extra: pd.DataFrame,
    checked: pd.DataFrame,
    *,
    spreadsheet: bool = False,
) -> pd.DataFrame:
    """The input row untouched, then `sent_text`, then RESULT_COLUMNS.

    For a spreadsheet, RESULT_COLUMNS are made inert (see inert_cells);
    `sent_text` is the user's own words and stays as they are.
    """
    if spreadsheet:
        extra = inert_cells(extra)
    return pd.concat([chunk, sent_text(checked, extra), extra], axis=1)


SENT_TEXT = "sent_text"
"""The text each row was sent with (filled and normalised), on every run.

Always there, so that a warehouse loading result files sees one layout
whether or not a run had a template or rows kept from earlier.
"""
_NOT_SENT = frozenset({INVALID, DUPLICATE, EXCLUDED})
OUR_COLUMNS = (SENT_TEXT, *RESULT_COLUMNS)
"""What the result file adds after the input's own columns."""
_CORE = frozenset(RESULT_COLUMNS[:6])
"""Columns every result file has had (files from before delivery reports lack the rest)."""


def sent_text(checked: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """The `sent_text` column, placed before RESULT_COLUMNS so that they stay the last ones.

    Rows never sent (invalid, duplicate, excluded) have it empty.
    """
    texts = [
        "" if status in _NOT_SENT else text
        for status, text in zip(extra["status"], checked["text"], strict=True)
    ]
    return pd.DataFrame({SENT_TEXT: texts_column(texts, extra.index)})


def refuse_our_names(path: Path, header: list[str]) -> None:
    """InputError if the sheet has a column named like one the result file adds.

    The result file would hold two `status` columns, and a reader (pandas, a
    warehouse whose names ignore case) one of them, or a failed load. A result
    file given as the sheet is said to be one: sent again, every row of it
    would be a new campaign's message.
    """
    ours = {name.casefold() for name in OUR_COLUMNS}
    names = [nfc(name.strip()) for name in header]
    clashes = [i for i, name in enumerate(names) if name.casefold() in ours]
    if not clashes:
        return
    if set(names) >= _CORE:
        tail = 0
        while tail < len(names) and names[-1 - tail].casefold() in ours:
            tail += 1
        raise InputError(
            path,
            _(
                "this is a batch-sender result file (its last {n} columns are {first} to "
                "{last}), not a sheet to send: to continue that campaign, send its own sheet "
                "with {opt:output} {path}; to start a new campaign from these rows, delete "
                "its last {n} columns first",
                n=tail,
                first=repr(names[-tail]),
                last=repr(names[-1]),
                path=str(path),
            ),
            line=1,
        )
    listed = " and ".join(f"{header[i].strip()!r} (column {i + 1})" for i in clashes)
    first = names[clashes[0]]
    raise InputError(
        path,
        ngettext(
            "column {listed} has a name the result file gives its own columns ({ours}); "
            "rename it (say {name} to {renamed}) and run again",
            "columns {listed} have names the result file gives its own columns ({ours}); "
            "rename them (say {name} to {renamed}) and run again",
            len(clashes),
            listed=listed,
            ours=", ".join(OUR_COLUMNS),
            name=repr(first),
            renamed=repr("input_" + first.lower()),
        ),
        line=1,
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list)."""


def inert(value: object) -> object:
    """A text that a spreadsheet shows as text: a leading ' before a formula start."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def readable(value: str) -> str:
    """A cell as it was before `inert` (for reading a result file written for Excel back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


NOT_INERT = frozenset({"RequestId"})
"""Derived from the user's campaign id, and matched as it is by `callbacks` and `report`."""


def inert_cells(extra: pd.DataFrame) -> pd.DataFrame:
    """Our columns with every text made inert.

    Only cells the tool writes: eSMS's ErrorMessage, a callback's error_info
    and the like come from strangers, and "=HYPERLINK(...)" there would
    become a live formula in the marketer's Excel. The user's own cells stay
    as they wrote them.
    """
    safe = extra.copy()
    for name in safe.columns:
        column = safe[name]
        if name not in NOT_INERT and not pd.api.types.is_numeric_dtype(column):
            safe[name] = texts_column([inert(v) for v in column.tolist()], safe.index)
    return safe
