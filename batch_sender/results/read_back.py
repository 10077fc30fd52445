"""A result file read back, row by row: what a journal that went missing would have held."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from batch_sender.errors import BatchSenderError
from batch_sender.i18n import _
from batch_sender.results.rows import RESULT_COLUMNS, SENT_TEXT, readable
from batch_sender.sheet.reader import open_table
from batch_sender.sheet.source import Columns, Source


@dataclass(frozen=True)
class Sent:
    """One row of a result file, as read back."""

    line: int
    user_id: str
    status: str
    request_id: str
    smsid: str
    code: str
    message: str
    attempts: int
    sent_text: str


def result_rows(results: Path, sheet_header: list[str], id_at: int) -> Iterator[Sent]:
    """A result file's rows in order; UsageError if it is not a result file of this sheet."""
    try:
        # Read as an input: CSV or XLSX, every cell text, ids as written.
        table = open_table(Source(results, Columns("SMSID", None, None), delimiter=","))
    except BatchSenderError as exc:
        raise NotAdoptable(_("it cannot be read as a result file ({exc})", exc=exc)) from None
    header = table.header
    extra = len(RESULT_COLUMNS)
    ours = header[-extra:]
    inputs = header[:-extra]
    has_text = bool(inputs) and inputs[-1] == SENT_TEXT and sheet_header[-1:] != [SENT_TEXT]
    if has_text:
        inputs = inputs[:-1]
    if ours != RESULT_COLUMNS:
        raise NotAdoptable(_("it is not a batch-sender result file (its last columns differ)"))
    if inputs != sheet_header:
        raise NotAdoptable(_("its columns are not the sheet's"))
    at = {name: len(header) - extra + i for i, name in enumerate(RESULT_COLUMNS)}
    text_at = len(inputs) if has_text else None
    for chunk in table.chunks():
        for number, values in zip(chunk.index.tolist(), chunk.itertuples(index=False), strict=True):
            cells = [readable(str(v)) for v in values]
            line, attempts = cells[at["row"]], cells[at["attempts"]]
            if not line.isdigit():
                raise NotAdoptable(_("its line {line} has no row number", line=number))
            yield Sent(
                line=int(line),
                user_id=cells[id_at].strip(),
                status=cells[at["status"]],
                request_id=cells[at["RequestId"]],
                smsid=cells[at["SMSID"]],
                code=cells[at["CodeResult"]],
                message=cells[at["ErrorMessage"]],
                attempts=int(attempts) if attempts.isdigit() else 0,
                sent_text="" if text_at is None else cells[text_at],
            )


class NotAdoptable(Exception):
    """Why a result file is not this campaign's (said in the refusal)."""
