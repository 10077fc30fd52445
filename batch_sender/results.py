"""Report: the result file, one row per input row, written whole or not at all.

Each output row is the input row untouched, followed by RESULT_COLUMNS. The
file is written to a temporary name beside the destination and renamed into
place at the end, so a reader never sees half a file, even after a crash.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd

from batch_sender.delivery import DELIVERY_COLUMNS
from batch_sender.disposition import HOLD, KEPT, SEND, SKIP, Disposition
from batch_sender.errors import UsageError
from batch_sender.journal import (
    ACCEPTED,
    FAILED,
    FINAL,
    JOURNAL_SUFFIX,
    SENDING,
    Journal,
    journal_path,
)
from batch_sender.validate import DUPLICATE, EXCLUDED, INVALID, VALID

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
    extra = pd.DataFrame(
        {
            "row": chunk.index,
            "status": checked["status"].to_numpy(),
            "RequestId": checked["RequestId"].where(valid, "").to_numpy(),
            "SMSID": "",
            "CodeResult": "",
            "ErrorMessage": checked["ErrorMessage"].to_numpy(),
            "attempts": 0,
            "delivery": "",
            "delivery_error": "",
            "delivered_at": "",
        },
        index=chunk.index,
    )
    return extra


def result_rows(
    chunk: pd.DataFrame,
    checked: pd.DataFrame,
    dispositions: list[Disposition],
    *,
    unsent_reason: str,
    deliveries: dict[str, tuple[str, str, str]] | None = None,
) -> pd.DataFrame:
    """send's RESULT_COLUMNS: each row's outcome from its disposition (see disposition.py)."""
    status: list[str] = []
    request_id: list[str] = []
    smsid: list[str] = []
    code: list[str] = []
    message: list[str] = []
    attempts: list[int] = []
    for row_status, error, disposition in zip(
        checked["status"], checked["ErrorMessage"], dispositions, strict=True
    ):
        values = _result_values(row_status, error, disposition, unsent_reason)
        for column, value in zip(
            (status, request_id, smsid, code, message, attempts), values, strict=True
        ):
            column.append(value)  # type: ignore[attr-defined]
    extra = pd.DataFrame(
        {
            "row": chunk.index,
            "status": status,
            "RequestId": request_id,
            "SMSID": smsid,
            "CodeResult": code,
            "ErrorMessage": message,
            "attempts": attempts,
        },
        index=chunk.index,
    )
    reported = deliveries or {}
    none = ("", "", "")
    outcomes = [reported.get(rid, none) if rid else none for rid in request_id]
    for i, column in enumerate(DELIVERY_COLUMNS):
        extra[column] = [outcome[i] for outcome in outcomes]
    return extra


def _result_values(
    row_status: str, error: str, disposition: Disposition, unsent_reason: str
) -> tuple[str, str, str, str, str, int]:
    """(status, RequestId, SMSID, CodeResult, ErrorMessage, attempts) of one row."""
    action, record = disposition.action, disposition.record
    if action == SKIP:
        return (row_status, "", "", "", error, 0)
    if record is None:
        return (UNSENT, disposition.request_id, "", "", unsent_reason, 0)
    rid = record.request_id
    smsid = record.smsid if record.status == ACCEPTED else ""
    if action == HOLD:
        return (FAILED, rid, "", record.code, STALE_MESSAGE, record.attempts)
    if action == KEPT:
        if record.status == ACCEPTED:
            why = kept_message(record.line)
            if row_status != VALID:  # as the sheet has it now, it could not be sent
                why = f"sent earlier with different content, line {record.line}; now {error}"
            return (ACCEPTED, rid, smsid, record.code, why, record.attempts)
        return (FAILED, rid, "", record.code, kept_unknown_message(record.line), record.attempts)
    if record.status == SENDING:
        # Only a crash leaves this; the rerun resends with the same RequestId.
        return (FAILED, rid, "", "", "no answer recorded: rerun to find out", record.attempts)
    if action == SEND and record.status not in FINAL and not record.may_have_reached:
        message = f"{record.message}; a rerun sends it again under a new RequestId".lstrip("; ")
        return (FAILED, rid, "", record.code, message, record.attempts)
    return (record.status, rid, smsid, record.code, record.message, record.attempts)


def kept_message(line: int) -> str:
    return (
        f"sent earlier with different content, line {line}; --resend-changed sends the new version"
    )


def kept_unknown_message(line: int) -> str:
    return (
        f"an earlier version of this row (line {line}) may have reached eSMS and its fate is "
        "unknown; --resend-changed sends the new version"
    )


STALE_MESSAGE = (
    "an earlier request got no answer over 24 hours ago and eSMS no longer blocks a repeat, "
    "so it was not sent again; check whether it arrived, then rerun with --resend-stale"
)


def output_rows(
    chunk: pd.DataFrame,
    extra: pd.DataFrame,
    checked: pd.DataFrame | None = None,
    *,
    spreadsheet: bool = False,
) -> pd.DataFrame:
    """The input row untouched, then `sent_text` if `checked` is given, then RESULT_COLUMNS.

    For a spreadsheet, RESULT_COLUMNS are made inert (see inert_cells);
    `sent_text` is the user's own words and stays as they are.

    concat, not assign: an input column that shares a name with ours (a
    result file fed back as input has `status`) stays intact beside it.
    """
    if spreadsheet:
        extra = inert_cells(extra)
    if checked is None:
        return pd.concat([chunk, extra], axis=1)
    return pd.concat([chunk, sent_text(checked, extra), extra], axis=1)


SENT_TEXT = "sent_text"
"""With --template: the text each row was sent with (filled and normalised)."""
_NOT_SENT = frozenset({INVALID, DUPLICATE, EXCLUDED})


def sent_text(checked: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """The `sent_text` column, placed before RESULT_COLUMNS so that they stay the last ones.

    Rows never sent (invalid, duplicate, excluded) have it empty.
    """
    texts = [
        "" if status in _NOT_SENT else text
        for status, text in zip(extra["status"], checked["text"], strict=True)
    ]
    return pd.DataFrame({SENT_TEXT: texts}, index=extra.index)


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
            safe[name] = pd.Series([inert(v) for v in column.tolist()], index=safe.index)
    return safe


def is_spreadsheet(path: Path, *, excel: bool) -> bool:
    """Will a spreadsheet open this file: an .xlsx, or a CSV written for Excel."""
    return excel or path.suffix.lower() == ".xlsx"


def check_output_path(output: Path, input_path: Path, *, resumes: bool = False) -> None:
    """Refuse, before anything is sent, an output that would fail or destroy the input.

    resumes: `send -o`, whose output is its own campaign's result file.
    """
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"{output}: the output must be a .csv or .xlsx file")
    if output.resolve() == input_path.resolve():
        raise UsageError(
            f"{output}: {{opt:output}} is the input file; choose another name for the output"
        )
    check_output(output, what="-o", own_results=output if resumes else None)


def check_output(
    path: Path, *, what: str, taken: Iterable[Path] = (), own_results: Path | None = None
) -> None:
    """The one check every command's output goes through before anything is written.

    No output may be a file the command reads (`taken`: its input...), a
    campaign's journal or one of its logs, or the result file of a campaign
    that has a journal (the only record of what went out), except `send -o`
    over its own (`own_results`). UsageError (exit 2) names what it would hit.
    """
    resolved = path.resolve()
    for other in taken:
        if resolved == other.resolve():
            raise UsageError(f"{path}: {what} would overwrite {other}; choose another name")
    for candidate in dict.fromkeys((path, resolved)):
        if JOURNAL_SUFFIX in candidate.name:
            raise UsageError(
                f"{path}: {what} would overwrite a campaign's journal (the record of what "
                "was sent); choose another name"
            )
        if journal_path(candidate).exists() and (
            own_results is None or own_results.resolve() != resolved
        ):
            raise UsageError(
                f"{path}: {what} would overwrite the result file of a campaign "
                f"({journal_path(candidate).name} is beside it); choose another name"
            )
    _check_folder(path)


def _check_folder(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise UsageError(f"{path}: the folder {parent} {what}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{path}: cannot write in the folder {parent}")


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_orphans(path: Path) -> None:
    """Delete temporary files that a killed run left beside `path`."""
    for orphan in path.parent.glob(f"{glob.escape(_temp_prefix(path))}*.tmp"):
        orphan.unlink(missing_ok=True)


OUTPUT_SUFFIXES = (".csv", ".xlsx")


class RowWriter(Protocol):
    def write(self, rows: pd.DataFrame) -> None: ...


@contextlib.contextmanager
def open_output(path: Path, *, bom: bool = False) -> Iterator[RowWriter]:
    """A result (or report) writer by the file's extension, written whole or not at all."""
    if path.suffix.lower() == ".xlsx":
        with atomic_path(path) as temp:
            writer = XlsxWriter()
            yield writer
            writer.save(temp)
        return
    with atomic_text_file(path, bom=bom) as f:
        yield CsvWriter(f)


def check_side_file(path: Path, *, taken: list[Path], what: str) -> None:
    """A file written besides the result (--summary-json, --html): never over another one."""
    check_output(path, what=what, taken=taken)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed into place if the block succeeds."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    os.close(handle)
    temp = Path(temp_name)
    try:
        temp.chmod(0o666 & ~_umask())
        yield temp
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_text_file(path: Path, *, bom: bool = False) -> Iterator[IO[str]]:
    """A text file that appears at `path` complete, or not at all."""
    with atomic_path(path) as temp:
        encoding = "utf-8-sig" if bom else "utf-8"
        with temp.open("w", encoding=encoding, newline="", buffering=1 << 20) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


class CsvWriter:
    """Streams chunks of output rows into one CSV file."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f
        # CRLF (RFC 4180): the csv module then quotes a cell holding a lone \r
        # too, which a "\n" terminator would leave bare, splitting the row.
        self.writer = csv.writer(f, lineterminator="\r\n")
        self.header_written = False

    def write(self, rows: pd.DataFrame) -> None:
        if not self.header_written:
            self.writer.writerow(rows.columns)
            self.header_written = True
        series = [rows.iloc[:, i] for i in range(rows.shape[1])]
        columns = [column.tolist() for column in series]
        fields = [
            list(map(str, values)) if column.dtype.kind in "iu" else csv_fields(values)
            for column, values in zip(series, columns, strict=True)
        ]
        if len(fields) < 2 or any(column is None for column in fields):
            self.writer.writerows(zip(*columns, strict=True))
            return
        if len(rows):
            # One str.join per row and one write per chunk: a third of the time
            # csv.writer takes with its per-cell and per-row calls.
            self.f.write("\r\n".join(map(",".join, zip(*fields, strict=True))))
            self.f.write("\r\n")


_SPECIAL = ('"', ",", "\r", "\n")


def csv_fields(values: list[Any]) -> list[str] | None:
    """A column's cells as the csv module (QUOTE_MINIMAL, `,`, CRLF) writes them.

    None when a cell is not text (integer columns are converted before):
    the csv module then writes the chunk. A column without any special character is checked
    with a single join, so most columns cost no per-cell Python work.
    """
    try:
        joined = "".join(values)
    except TypeError:
        return None
    if "\x00" in joined:
        return None  # the csv module's own handling of NUL, whatever the Python version
    if not any(char in joined for char in _SPECIAL):
        return values
    return [
        '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v or "\r" in v or "\n" in v) else v
        for v in values
    ]


class XlsxWriter:
    """Streams rows into a one-sheet workbook: every input value a text cell, never a formula.

    Ids stay text (Excel would round a 19-digit number), and a cell such as
    "=HYPERLINK(...)" from a CRM export stays the characters it was.
    """

    def __init__(self) -> None:
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("results")
        self.header_written = False

    def write(self, rows: pd.DataFrame) -> None:
        from openpyxl.cell import WriteOnlyCell

        if not self.header_written:
            self.sheet.append([self._text(name) for name in rows.columns])
            self.header_written = True
        columns = [rows.iloc[:, i].tolist() for i in range(rows.shape[1])]
        for values in zip(*columns, strict=True):
            self.sheet.append(
                [
                    WriteOnlyCell(self.sheet, value) if isinstance(value, int) else self._text(v)
                    for v in values
                    for value in (v,)
                ]
            )

    def _text(self, value: object) -> object:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.utils.escape import escape

        # Control characters cannot stand in XLSX XML: Excel's own _xHHHH_
        # escapes keep them, and openpyxl or Excel reading the file get them back.
        cell = WriteOnlyCell(self.sheet, escape(str(value)))
        cell.data_type = "s"  # openpyxl would take a leading "=" as a formula
        return cell

    def save(self, path: Path) -> None:
        self.book.save(path)


def rewrite_deliveries(path: Path, journal: Journal) -> int:
    """Refresh the delivery columns of a CSV result file from the journal; rows rewritten.

    The result file itself is the source (not the input, which the callback
    receiver does not know): every other cell is copied as it was.
    """
    header, reader = read_result_file(path)
    rid_at = len(header) - len(RESULT_COLUMNS) + RESULT_COLUMNS.index("RequestId")
    first_delivery = len(header) - len(DELIVERY_COLUMNS)
    with path.open("rb") as raw:
        bom = raw.read(3) == b"\xef\xbb\xbf"
    rows = 0
    with reader, atomic_text_file(path, bom=bom) as f:
        writer = CsvWriter(f)
        for chunk in reader:
            reported = journal.deliveries(chunk.iloc[:, rid_at].tolist())
            if reported:
                for offset in range(len(DELIVERY_COLUMNS)):
                    column = chunk.iloc[:, first_delivery + offset].tolist()
                    for i, rid in enumerate(chunk.iloc[:, rid_at].tolist()):
                        if rid in reported:
                            value = reported[rid][offset]
                            column[i] = inert(value) if bom else value
                    chunk[first_delivery + offset] = column
            chunk.columns = pd.Index(header, dtype=object)
            writer.write(chunk)
            rows += len(chunk)
    return rows


def read_result_file(path: Path) -> tuple[list[str], Any]:
    """A result file's header and a reader of its rows in chunks (columns by position)."""
    header = result_header(path)
    reader = pd.read_csv(
        path,
        dtype=object,
        keep_default_na=False,
        na_filter=False,
        header=0,
        names=range(len(header)),
        index_col=False,
        encoding="utf-8-sig",
        chunksize=5_000,
    )
    return header, reader


def require_campaign(
    results: Path, *, campaign_id: str | None = None, may_start: bool = False
) -> None:
    """callbacks, status and report work on a campaign that exists: its journal beside RESULTS.

    They never make a journal by themselves: one nobody sends into would take
    eSMS's reports (answered 200, so never sent again) where no result file
    reads them. With campaign_id (callbacks started before send), the
    campaign's journal is made now, or checked to be that campaign's;
    may_start: the command takes --campaign-id (the error says so).
    """
    journal = journal_path(results)
    if campaign_id is not None:
        if not journal.exists():
            _check_folder(journal)
        Journal.open(journal, campaign_id).close()
        return
    if journal.exists():
        return
    folder = results.parent
    others = sorted(
        str(results.with_name(found.name[: -len(JOURNAL_SUFFIX)]))
        for found in folder.glob(f"*{JOURNAL_SUFFIX}")
        if found.name != JOURNAL_SUFFIX
    )
    if others:
        hint = f"did you mean {' or '.join(others)}?"
    else:
        hint = f"no campaign in {folder}; `batch-sender send INPUT -o {results}` starts one"
    if may_start:
        hint += " (to start before send, pass --campaign-id)"
    raise UsageError(f"{results}: no campaign journal beside it ({journal.name}); {hint}")


def result_header(path: Path) -> list[str]:
    """The header of a batch-sender CSV result file; UsageError if it is not one."""
    if path.suffix.lower() != ".csv":
        raise UsageError(f"{path}: delivery status is kept in .csv result files only")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such result file; run `batch-sender send` first") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    if header[-len(RESULT_COLUMNS) :] != RESULT_COLUMNS:
        raise UsageError(f"{path}: not a batch-sender result file (its last columns differ)")
    return header
