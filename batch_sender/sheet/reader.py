"""Read: a CSV or XLSX sheet as chunks of text cells, each row keeping its line number.

Every cell is text from the first byte read: a 19-digit Zalo id must never
pass through a float. Each chunk is a DataFrame whose index is the row's line
number in the file as Excel shows it (header = 1), with blank rows dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch_sender.errors import InputError
from batch_sender.options import Reading

DELIMITERS = ",;\t|"
DEFAULT_ENCODING = "utf-8-sig"  # reads UTF-8 with or without a BOM
LONG_NUMBER_IDS = "long_number_ids"
"""DataFrame.attrs key: line numbers whose user_id was an XLSX number cell of over 15 digits."""

# Excel keeps 15 significant digits; a longer number cell has been rounded.
EXCEL_DIGITS = 15


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the three fields a message needs."""

    user_id: str = Reading.user_id_column
    text: str | None = Reading.text_column
    """None when a --template makes the text."""
    url: str | None = Reading.url_column
    """None only for suppression lists, which need nothing but the user_id."""

    def as_dict(self) -> dict[str, str]:
        wanted = {"user_id": self.user_id, "text": self.text, "url": self.url}
        return {logical: name for logical, name in wanted.items() if name is not None}


@dataclass(frozen=True)
class Source:
    """Where and how to read the campaign's rows."""

    path: Path
    columns: Columns = field(default_factory=Columns)
    encoding: str | None = None
    sheet: str | None = None
    delimiter: str | None = None
    chunk_rows: int = Reading.chunk_rows

    @property
    def is_excel(self) -> bool:
        return self.path.suffix.lower() in {".xlsx", ".xlsm"}

    @property
    def is_parquet(self) -> bool:
        return self.path.suffix.lower() == ".parquet"


@dataclass(frozen=True)
class Table:
    """An opened input: its header, the real names of the three fields, and its rows."""

    source: Source
    header: list[str]
    fields: dict[str, int]
    """Logical field (user_id, text, url) -> the column's position in the file."""
    delimiter: str

    def chunks(self) -> Iterator[pd.DataFrame]:
        if self.source.is_excel:
            yield from _xlsx_chunks(self)
        elif self.source.is_parquet:
            yield from _parquet_chunks(self)
        else:
            yield from _csv_chunks(self)


def open_table(source: Source) -> Table:
    """Check the file and its header; raise InputError with one line if unusable."""
    path = source.path
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a CSV or XLSX file")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty; it needs a header line and rows")
    if source.is_excel:
        header = _xlsx_header(source)
        delimiter = ""
    elif source.is_parquet:
        header = [field.name for field in _parquet_file(source).schema_arrow]
        delimiter = ""
    else:
        delimiter = source.delimiter or detect_delimiter(source)
        header = _csv_header(source, delimiter)
    fields = _find_fields(source, header)
    return Table(source=source, header=header, fields=fields, delimiter=delimiter)


def _find_fields(source: Source, header: list[str]) -> dict[str, int]:
    """Where each field's column is; headers may repeat, but not a field's own."""
    # Headers exported by hand often carry stray spaces: match on the trimmed name.
    fields: dict[str, int] = {}
    missing: list[str] = []
    for logical, wanted in source.columns.as_dict().items():
        folded = wanted.strip().casefold()
        found = [i for i, name in enumerate(header) if name.strip() == wanted.strip()]
        if not found:
            # User_ID, Text, URL: an exported header's casing is not the user's choice.
            found = [i for i, name in enumerate(header) if name.strip().casefold() == folded]
            if len(found) > 1:
                names = " and ".join(f"{header[i].strip()!r} (column {i + 1})" for i in found)
                raise InputError(
                    source.path,
                    f"no column is named exactly {wanted!r}, and {names} match it "
                    f"when case is ignored; rename one, or pass {{opt:{logical}_column}} "
                    "with the exact name",
                    line=1,
                )
        if not found:
            missing.append(f"{wanted!r} ({{opt:{logical}_column}})")
        elif len(found) > 1:
            where = " and ".join(str(i + 1) for i in found)
            raise InputError(
                source.path, f"column {wanted!r} appears more than once (columns {where})", line=1
            )
        else:
            fields[logical] = found[0]
    if missing:
        names = ", ".join(repr(name) for name in header) or "none"
        raise InputError(
            source.path,
            f"missing column {', '.join(missing)}; columns found: {names}",
            line=1,
        )
    return fields


# --- CSV ---------------------------------------------------------------------


def _encoding(source: Source) -> str:
    return source.encoding or DEFAULT_ENCODING


def detect_delimiter(source: Source) -> str:
    """The delimiter the header line uses most: `,` `;` tab or `|` (`,` if none)."""
    with source.path.open("rb") as f:
        first = f.readline(1 << 20)
    try:
        line = first.decode(_encoding(source))
    except UnicodeDecodeError as exc:
        raise _decode_error(source, exc) from None
    counts = {d: _count_outside_quotes(line, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def _read_csv_args(table_source: Source, delimiter: str) -> dict[str, Any]:
    return {
        "sep": delimiter,
        # object, not str: with pyarrow installed, pandas 3 would make str columns
        # Arrow-backed (+70 MB, and slower to hand back as Python strings).
        "dtype": object,
        "keep_default_na": False,
        "na_filter": False,
        # Blank lines stay as empty rows so that every row keeps its line number.
        "skip_blank_lines": False,
        "encoding": _encoding(table_source),
        "engine": "c",
        "quoting": csv.QUOTE_MINIMAL,
    }


def _csv_header(source: Source, delimiter: str) -> list[str]:
    """The header's cells exactly as written (pandas would rename repeats and blanks)."""
    try:
        with source.path.open(encoding=_encoding(source), newline="") as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
    except UnicodeDecodeError as exc:
        raise _decode_error(source, exc) from None
    except csv.Error as exc:
        raise InputError(source.path, f"cannot read the header: {exc}", line=1) from None
    if not header or all(name == "" for name in header):
        raise InputError(source.path, "line 1 is empty; the header must be on line 1", line=1)
    return header


def _csv_chunks(table: Table) -> Iterator[pd.DataFrame]:
    source = table.source
    first_line = 2
    try:
        reader = pd.read_csv(
            source.path,
            chunksize=source.chunk_rows,
            header=0,
            names=range(len(table.header)),  # positions; the real names go back on below
            **_read_csv_args(source, table.delimiter),
        )
        with reader:
            for chunk in _sized(reader, source.chunk_rows):
                if not isinstance(chunk.index, pd.RangeIndex):
                    # pandas takes rows with more fields than the header as having
                    # an index column, silently shifting every value one column left.
                    raise InputError(
                        source.path,
                        f"this row has more fields than the header's {len(table.header)}; "
                        "quote cells that contain the delimiter",
                        line=first_line,
                    )
                count = len(chunk)
                chunk.index = pd.RangeIndex(first_line, first_line + count)
                chunk.columns = pd.Index(table.header, dtype=object)
                first_line += count
                yield _drop_blank(chunk)
    except UnicodeDecodeError as exc:
        raise _decode_error(source, exc) from None
    except pd.errors.ParserError as exc:
        raise _parser_error(source, exc) from None


FIRST_CHUNK_ROWS = 500
"""A send starts on the first chunk: a small one lets it start as soon on a big sheet."""


def _sized(reader: Any, rows: int) -> Iterator[pd.DataFrame]:
    """The reader's chunks: a small first one, then `rows` at a time."""
    size = min(rows, FIRST_CHUNK_ROWS)
    while True:
        try:
            yield reader.get_chunk(size)
        except StopIteration:
            return
        size = rows


def _drop_blank(chunk: pd.DataFrame) -> pd.DataFrame:
    if chunk.empty:
        return chunk
    # A blank row has an empty first cell: only those need the full check.
    maybe = chunk.iloc[:, 0].to_numpy() == ""
    if not maybe.any():
        return chunk
    blank = np.zeros(len(chunk), dtype=bool)
    blank[maybe] = (chunk[maybe] == "").all(axis=1).to_numpy()
    return chunk[~blank] if blank.any() else chunk


_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_ERROR = re.compile(r"EOF inside string starting at row (\d+)")


def _parser_error(source: Source, exc: Exception) -> InputError:
    text = str(exc)
    if m := _FIELDS_ERROR.search(text):
        expected, line, saw = (int(g) for g in m.groups())
        return InputError(
            source.path,
            f"this row has {saw} fields but the header has {expected}; "
            "quote cells that contain the delimiter",
            line=line,
        )
    if m := _EOF_ERROR.search(text):
        return InputError(
            source.path,
            'a quoted cell is never closed (a missing `"`)',
            line=int(m.group(1)) + 1,
        )
    return InputError(source.path, f"cannot parse the file as CSV: {text.splitlines()[-1]}")


def _decode_error(source: Source, exc: UnicodeDecodeError) -> InputError:
    encoding = _encoding(source)
    line, column = _locate_undecodable(source.path, encoding)
    hint = (
        "; pass {opt:encoding} (e.g. {opt:encoding} cp1258 or {opt:encoding} latin-1) to read it"
        if source.encoding is None
        else ""
    )
    return InputError(
        source.path,
        f"not valid {encoding.replace('-sig', '').upper()} ({exc.reason}){hint}",
        line=line,
        column=column,
    )


def _locate_undecodable(path: Path, encoding: str) -> tuple[int | None, int | None]:
    """Line and column (1-based, in characters) of the first byte that does not decode."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding if number == 1 else encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                prefix = raw[: exc.start].decode(encoding, errors="replace")
                return number, len(prefix) + 1
    return None, None


# --- XLSX --------------------------------------------------------------------
# openpyxl directly rather than pandas.read_excel: pandas hides whether a cell
# was a number (a rounded id) or text, loses blank rows' line numbers, and
# loads the whole sheet at once, where openpyxl's read-only mode streams.


def _open_sheet(source: Source) -> tuple[Any, Any]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(source.path, f"cannot open as an XLSX workbook: {exc}") from None
    except Exception as exc:  # a corrupt zip raises zipfile.BadZipFile and others
        raise InputError(source.path, f"cannot open as an XLSX workbook: {exc}") from None
    if source.sheet is None:
        sheet = book.worksheets[0]
    elif source.sheet not in book.sheetnames:
        names = ", ".join(repr(n) for n in book.sheetnames)
        book.close()
        raise InputError(source.path, f"no sheet named {source.sheet!r}; sheets: {names}")
    else:
        sheet = book[source.sheet]
    # Some exporters write a wrong <dimension> (e.g. "A1"); read-only mode trusts it.
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    return book, sheet


def _xlsx_header(source: Source) -> list[str]:
    book, sheet = _open_sheet(source)
    try:
        first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
    finally:
        book.close()
    header = [cell_text(v) for v in (first or ())]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise InputError(source.path, "line 1 is empty; the header must be on line 1", line=1)
    return header


def _xlsx_chunks(table: Table) -> Iterator[pd.DataFrame]:
    source = table.source
    width = len(table.header)
    id_position = table.fields["user_id"]
    book, sheet = _open_sheet(source)
    try:
        rows: list[list[str]] = []
        lines: list[int] = []
        long_ids: set[int] = set()
        for line, values in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
            beyond = [i for i, v in enumerate(values[width:], start=width) if _has_value(v)]
            if beyond:
                raise InputError(
                    source.path,
                    f"this row has a value beyond the header's {width} columns "
                    f"(column {beyond[0] + 1}); give that column a header",
                    line=line,
                )
            cells = list(values[:width]) + [None] * (width - len(values))
            if not any(_has_value(v) for v in cells):
                continue
            if _is_long_number(cells[id_position]):
                long_ids.add(line)
            rows.append([cell_text(v) for v in cells])
            lines.append(line)
            if len(rows) >= source.chunk_rows:
                yield _text_frame(table.header, rows, lines, long_ids)
                rows, lines, long_ids = [], [], set()
        if rows:
            yield _text_frame(table.header, rows, lines, long_ids)
    finally:
        book.close()


def _text_frame(
    header: list[str], rows: list[list[str]], lines: list[int], long_ids: set[int]
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines), dtype=object)
    frame.attrs[LONG_NUMBER_IDS] = frozenset(long_ids)
    return frame


# --- Parquet (for data teams; needs pyarrow, which is not a dependency) --------


def _parquet_file(source: Source) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            source.path, "reading .parquet needs pyarrow: pip install pyarrow"
        ) from None
    try:
        return pq.ParquetFile(source.path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError kinds
        raise InputError(source.path, f"cannot open as Parquet: {exc}") from None


def _parquet_chunks(table: Table) -> Iterator[pd.DataFrame]:
    """Typed Parquet cells as the text a user would see; an int64 id keeps every digit."""
    parquet = _parquet_file(table.source)
    id_position = table.fields["user_id"]
    line = 2  # as if the file had a header line
    for batch in parquet.iter_batches(batch_size=table.source.chunk_rows):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows: list[list[str]] = []
        lines: list[int] = []
        long_ids: set[int] = set()
        for values in zip(*columns, strict=True):
            if any(_has_value(v) for v in values):
                # A float id has been rounded on its way into the file, like an XLSX number.
                if isinstance(values[id_position], float) and _is_long_number(values[id_position]):
                    long_ids.add(line)
                rows.append([cell_text(v) for v in values])
                lines.append(line)
            line += 1
        if rows:
            yield _text_frame(table.header, rows, lines, long_ids)


def _has_value(value: object) -> bool:
    return value is not None and value != ""


def _is_long_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return bool(abs(value) >= 10**EXCEL_DIGITS)


def cell_text(value: object) -> str:
    """An XLSX cell as the text a user sees in it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # Parquet strings written without the UTF8 annotation
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 10**EXCEL_DIGITS:
            return str(int(value))
        if value.is_integer():
            # What Excel shows for a rounded long number, never a made-up full id.
            return f"{value:.{EXCEL_DIGITS}G}"
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
