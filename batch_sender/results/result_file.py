"""A result file read back (CSV or XLSX): its header, its rows in chunks, its deliveries refreshed.

Every cell comes back as the text it shows (a number the XLSX writer stored
as a number, `row` and `attempts`, as its digits), so the two formats read
alike.
"""

from __future__ import annotations

import csv
import itertools
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import DELIVERY_COLUMNS
from batch_sender.i18n import _
from batch_sender.journal.lock import no_send_running
from batch_sender.journal.running import running_send
from batch_sender.journal.store import Journal
from batch_sender.results.adoption import not_rewritable, remember_written
from batch_sender.results.digest import Hashing, fingerprint, hashed_text
from batch_sender.results.files import CsvWriter, RowWriter, XlsxWriter, temporary_beside
from batch_sender.results.rows import RESULT_COLUMNS, inert

RESULT_SUFFIXES = (".csv", ".xlsx")
NUMBER_COLUMNS = ("row", "attempts")
"""Our columns that hold whole numbers (the others, and the user's, hold text)."""
CHUNK_ROWS = 5_000


class NotRewritable(Exception):
    """The file is not the journal's to refresh (the reason is the message)."""


def rewrite_deliveries(path: Path, journal: Journal) -> bool:
    """Refresh the delivery columns of a result file from the journal; False if not now.

    The result file itself is the source (not the input, which the callback
    receiver does not know): every other cell is copied as it was. The copy
    is made without the campaign's lock, so a send is never kept waiting
    by it, however long the file; it replaces the file only if no send is
    running and none wrote the file meanwhile (False: try again later).
    NotRewritable when the journal may not write it (see not_rewritable).
    """
    with no_send_running(journal.path, lambda: running_send(journal.writer)) as free:
        if not free:
            return False  # a copy now would only be thrown away
    before = _identity(path)
    header = result_header(path)
    if (why := not_rewritable(path, journal, header)) is not None:
        raise NotRewritable(_("{path}: not rewritten: {why}", path=path, why=why))
    header, reader = read_result_file(path, header=header)
    digest: Hashing | None = None
    with reader, temporary_beside(path) as temp:
        if _is_xlsx(path):
            # As send wrote it: a workbook is a spreadsheet, its numbers numbers.
            book = XlsxWriter()
            _copy_with_deliveries(header, reader, book, journal, bom=True, numbers=True)
            book.save(temp)
        else:
            with path.open("rb") as raw:
                bom = raw.read(3) == b"\xef\xbb\xbf"
            f, digest = hashed_text(temp, "utf-8-sig" if bom else "utf-8")
            with f:
                _copy_with_deliveries(header, reader, CsvWriter(f), journal, bom=bom)
                f.flush()
                os.fsync(f.fileno())
        try:
            # Before the lock: it is held for the rename alone.
            written = digest.fingerprint() if digest is not None else fingerprint(temp)
        except FileNotFoundError:
            return False  # a send starting cleared it away as a killed run's
        with no_send_running(journal.path, lambda: running_send(journal.writer)) as free:
            if not free or _identity(path) != before:
                return False
            try:
                temp.replace(path)
            except FileNotFoundError:
                return False  # a send starting cleared it away as a killed run's
            remember_written(journal, written)  # still the journal's: the next send rewrites it
    return True


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What changes when anyone writes the file anew (every writer replaces it)."""
    found = path.stat()
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def _copy_with_deliveries(
    header: list[str],
    reader: Any,
    writer: RowWriter,
    journal: Journal,
    *,
    bom: bool,
    numbers: bool = False,
) -> None:
    """bom: a file for spreadsheets (cells made inert); numbers: `row`, `attempts` as ints."""
    base = len(header) - len(RESULT_COLUMNS)
    rid_at = base + RESULT_COLUMNS.index("RequestId")
    first_delivery = len(header) - len(DELIVERY_COLUMNS)
    for chunk in reader:
        reported = journal.deliveries.reported(chunk.iloc[:, rid_at].tolist())
        if reported:
            for offset in range(len(DELIVERY_COLUMNS)):
                column = chunk.iloc[:, first_delivery + offset].tolist()
                for i, rid in enumerate(chunk.iloc[:, rid_at].tolist()):
                    if rid in reported:
                        value = reported[rid][offset]
                        column[i] = inert(value) if bom else value
                chunk[first_delivery + offset] = column
        if numbers:
            for name in NUMBER_COLUMNS:
                at = base + RESULT_COLUMNS.index(name)
                chunk[at] = [int(v) if v.isdigit() else v for v in chunk[at].tolist()]
        chunk.columns = pd.Index(header, dtype=object)
        writer.write(chunk)


def read_result_file(
    path: Path,
    columns: list[int] | None = None,
    rows: int | None = None,
    *,
    header: list[str] | None = None,
) -> tuple[list[str], Any]:
    """A result file's header and a reader of its rows in chunks (columns by position).

    The reader is a context manager; each chunk a DataFrame of str cells.
    columns: the positions a CSV file's chunks need (a workbook's have all);
    the others are never made into strings. rows: the first ones only.
    header: the file's header, if the caller has just read it (a workbook's costs an open).
    """
    header = result_header(path) if header is None else header
    if _is_xlsx(path):
        return header, _XlsxChunks(path, len(header), rows)
    reader = pd.read_csv(
        path,
        usecols=columns,
        nrows=rows,
        dtype=object,
        keep_default_na=False,
        na_filter=False,
        header=0,
        names=range(len(header)),
        index_col=False,
        # Not utf-8-sig: pandas' own parser skips a leading BOM, and that codec
        # would decode the whole file in Python first (a third of the reading).
        encoding="utf-8",
        chunksize=5_000,
    )
    return header, reader


def result_header(path: Path) -> list[str]:
    """The header of a batch-sender result file; UsageError if it is not one."""
    check_result_suffix(path)
    try:
        if _is_xlsx(path):
            with _XlsxChunks(path, 0) as sheet:
                header = next(sheet.rows(), [])
        else:
            with path.open(encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f), [])
    except FileNotFoundError:
        raise UsageError(
            _("{path}: no such result file; run `batch-sender send` first", path=path)
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile, KeyError) as exc:
        raise UsageError(_("{path}: cannot read it ({exc})", path=path, exc=exc)) from None
    if header[-len(RESULT_COLUMNS) :] != RESULT_COLUMNS:
        raise UsageError(
            _("{path}: not a batch-sender result file (its last columns differ)", path=path)
        )
    return header


def check_result_suffix(path: Path) -> None:
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise UsageError(_("{path}: a result file is a .csv or .xlsx file", path=path))


def _is_xlsx(path: Path) -> bool:
    return path.suffix.lower() == ".xlsx"


class _XlsxChunks:
    """A result workbook's rows after the header, in chunks of str cells by position."""

    def __init__(self, path: Path, width: int, limit: int | None = None) -> None:
        from openpyxl import load_workbook

        self.book = load_workbook(path, read_only=True, data_only=True)
        self.width = width
        self.limit = limit

    def rows(self) -> Iterator[list[str]]:
        sheet = self.book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_text(v) for v in values]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        rows = self.rows()
        next(rows, None)
        chunk: list[list[str]] = []
        for row in itertools.islice(rows, self.limit):
            # A read-only sheet gives a row as long as its own last cell.
            chunk.append((row + [""] * self.width)[: self.width])
            if len(chunk) == CHUNK_ROWS:
                yield self._frame(chunk)
                chunk = []
        if chunk:
            yield self._frame(chunk)

    def _frame(self, rows: list[list[str]]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=range(self.width), dtype=object)

    def close(self) -> None:
        """As pandas' CSV reader does: callers close either kind the same way."""
        self.book.close()

    def __enter__(self) -> _XlsxChunks:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.book.close()


def _text(value: object) -> str:
    """A cell as the text it shows: whole numbers without a trailing .0, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
