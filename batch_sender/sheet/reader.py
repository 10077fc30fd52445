"""Read: a CSV (UTF-8 or UTF-16), XLSX, XLS, ODS or Parquet sheet as chunks of text cells.

The format is sniffed from the content, never from the name. Each row keeps
its line number.

Every cell is text from the first byte read: a 19-digit Zalo id must never
pass through a float. Each chunk is a DataFrame whose index is the row's line
number in the file as Excel shows it (header = 1), with blank rows dropped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch_sender.errors import InputError
from batch_sender.i18n import N_, _
from batch_sender.options import Reading

DELIMITERS = ",;\t|"
DEFAULT_ENCODING = "utf-8-sig"  # reads UTF-8 with or without a BOM
LONG_NUMBER_IDS = "long_number_ids"
"""DataFrame.attrs key: line numbers whose user_id was an XLSX number cell of over 15 digits."""

HIDDEN_LINES = "hidden_lines"
"""DataFrame.attrs key: line numbers of rows hidden in the workbook, to be skipped."""

HIDDEN_REFUSE, HIDDEN_SKIP, HIDDEN_SEND = "refuse", "skip", "send"
HIDDEN_POLICIES = (HIDDEN_REFUSE, HIDDEN_SKIP, HIDDEN_SEND)

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
    hidden_rows: str = Reading.hidden_rows
    """Rows hidden in a workbook: refuse the file, skip them (excluded), or send them."""
    shown: str | None = None
    """The input's name as the user gave it, when `path` is a copy (of a pipe)."""

    @property
    def is_excel(self) -> bool:
        return source_format(self) in WORKBOOKS

    @property
    def is_parquet(self) -> bool:
        return source_format(self) == "parquet"

    @property
    def has_bom(self) -> bool:
        """A text input that starts with a byte order mark (Excel's "CSV UTF-8" export)."""
        if source_format(self) != "text":
            return False
        with self.path.open("rb") as f:
            head = f.read(3)
        return head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


@dataclass(frozen=True)
class Table:
    """An opened input: its header, the real names of the three fields, and its rows."""

    source: Source
    header: list[str]
    fields: dict[str, int]
    """Logical field (user_id, text, url) -> the column's position in the file."""
    delimiter: str

    def chunks(self) -> Iterator[pd.DataFrame]:
        try:
            if self.source.is_excel:
                yield from _xlsx_chunks(self)
            elif self.source.is_parquet:
                yield from _parquet_chunks(self)
            else:
                yield from _csv_chunks(self)
        except InputError as exc:
            raise _shown(self.source, exc) from None


def _shown(source: Source, exc: InputError) -> InputError:
    return exc if source.shown is None else exc.shown_as(source.shown)


# --- What the file is, from its content -----------------------------------------

WORKBOOKS = frozenset({"xlsx", "xls", "ods"})
FORMAT_NAMES = {"xlsx": "XLSX", "xls": "XLS", "ods": "ODS"}
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_REFUSED = {
    "xlsb": N_(
        "an Excel binary workbook (.xlsb), which cannot be read; "
        "save it as .xlsx or .csv (File > Save As) and use that file"
    ),
    "numbers": N_(
        "an Apple Numbers file; in Numbers, File > Export To > Excel (or CSV), and use that file"
    ),
    "pdf": N_(
        "a PDF document, not a spreadsheet; export the sheet from the program that "
        "made it as .xlsx or .csv"
    ),
    "odf": N_(
        "an OpenDocument file that is not a spreadsheet; "
        "save it as .xlsx or .csv (File > Save As) and use that file"
    ),
    "docx": N_("a Word document, not a spreadsheet; put the rows in a sheet and save it as .xlsx"),
    "zip": N_("a zip archive, not a spreadsheet; unzip it and use the .xlsx or .csv inside"),
}


def sniff_format(path: Path) -> str:
    """xlsx, xls, ods, parquet or text, from the first bytes; InputError for what cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return "text"  # open_table says why
    kind = _sniff(path, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if kind in _REFUSED:
        raise InputError(path, _("this file is {what}", what=_(_REFUSED[kind])))
    return kind


def source_format(source: Source) -> str:
    return sniff_format(source.path)


@functools.lru_cache(maxsize=64)
def _sniff(path: Path, _mtime: int, _size: int, _inode: int) -> str:
    """The content's format; cached per version of the file (the arguments after path)."""
    if not path.is_file():
        return "numbers" if path.suffix.lower() == ".numbers" else "text"
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(_OLE2):
        return "xls"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PAR1"):
        return "parquet"
    if not head.startswith(b"PK\x03\x04"):
        return "text"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype").strip() if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError):
        # A damaged workbook: the workbook reader says what is wrong with it.
        return "xlsx" if path.suffix.lower() != ".ods" else "ods"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if mimetype == _ODS_MIME:
        return "ods"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "odf"
    if any(name.startswith("Index/") for name in names) or "Metadata/Properties.plist" in names:
        return "numbers"
    if "word/document.xml" in names:
        return "docx"
    return "zip"


def nfc(text: str) -> str:
    """Text as typed on Windows: a Mac writes Vietnamese names decomposed (NFD)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def open_table(source: Source) -> Table:
    """Check the file and its header; raise InputError with one line if unusable."""
    try:
        return _open_table(source)
    except InputError as exc:
        raise _shown(source, exc) from None


def _open_table(source: Source) -> Table:
    path = source.path
    if not path.exists():
        raise InputError(path, _("no such file"))
    if path.is_dir():
        if path.suffix.lower() == ".numbers":
            raise InputError(path, _("this file is {what}", what=_(_REFUSED["numbers"])))
        raise InputError(path, _("is a directory, not a spreadsheet"))
    if path.stat().st_size == 0:
        raise InputError(path, _("the file is empty; it needs a header line and rows"))
    sniff_format(path)
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
        # A Mac writes names decomposed (NFD): compare them as typed elsewhere (NFC).
        exact = nfc(wanted.strip())
        folded = exact.casefold()
        typed = [nfc(name.strip()) for name in header]
        found = [i for i, name in enumerate(typed) if name == exact]
        if not found:
            # User_ID, Text, URL: an exported header's casing is not the user's choice.
            found = [i for i, name in enumerate(typed) if name.casefold() == folded]
            if len(found) > 1:
                names = " and ".join(f"{header[i].strip()!r} (column {i + 1})" for i in found)
                raise InputError(
                    source.path,
                    _(
                        "no column is named exactly {wanted}, and {names} match it when case is "
                        "ignored; rename one, or pass {opt:{logical}_column} with the exact name",
                        wanted=repr(wanted),
                        names=names,
                        logical=logical,
                    ),
                    line=1,
                )
        if not found:
            missing.append(f"{wanted!r} ({{opt:{logical}_column}})")
        elif len(found) > 1:
            where = " and ".join(str(i + 1) for i in found)
            raise InputError(
                source.path,
                _(
                    "column {wanted} appears more than once (columns {where})",
                    wanted=repr(wanted),
                    where=where,
                ),
                line=1,
            )
        else:
            fields[logical] = found[0]
    if missing:
        names = ", ".join(repr(name) for name in header) or "none"
        raise InputError(
            source.path,
            _(
                "missing column {missing}; columns found: {names}",
                missing=", ".join(missing),
                names=names,
            ),
            line=1,
        )
    return fields


# --- CSV ---------------------------------------------------------------------


def _encoding(source: Source) -> str:
    if source.encoding is not None:
        return source.encoding
    try:
        stat = source.path.stat()
    except OSError:
        return DEFAULT_ENCODING
    return _sniff_encoding(source.path, stat.st_mtime_ns, stat.st_size, stat.st_ino)


@functools.lru_cache(maxsize=64)
def _sniff_encoding(path: Path, _mtime: int, _size: int, _inode: int) -> str:
    """UTF-16 (Excel's "Unicode Text" export) from its BOM or its zero bytes, else UTF-8."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    pairs = len(head) // 2
    if pairs >= 2:
        # ASCII text in UTF-16 has a zero byte in every pair: high byte first in BE.
        even = head[0 : pairs * 2 : 2].count(0)
        odd = head[1 : pairs * 2 : 2].count(0)
        if odd > pairs * 0.3 and even == 0:
            return "utf-16-le"
        if even > pairs * 0.3 and odd == 0:
            return "utf-16-be"
    return DEFAULT_ENCODING


def detect_delimiter(source: Source) -> str:
    """The delimiter the header line uses most: `,` `;` tab or `|` (`,` if none)."""
    # The decoded line: in UTF-16 a byte-wise line would end inside a character.
    try:
        with source.path.open(encoding=_encoding(source), newline="") as f:
            line = f.readline(1 << 20)
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
        raise InputError(source.path, _("cannot read the header: {exc}", exc=exc), line=1) from None
    if not header or all(name == "" for name in header):
        raise InputError(source.path, _("line 1 is empty; the header must be on line 1"), line=1)
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
                        _(
                            "this row has more fields than the header's {n}; quote cells that "
                            "contain the delimiter",
                            n=len(table.header),
                        ),
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
            _(
                "this row has {saw} fields but the header has {expected}; quote cells that "
                "contain the delimiter",
                saw=saw,
                expected=expected,
            ),
            line=line,
        )
    if m := _EOF_ERROR.search(text):
        return InputError(
            source.path,
            _('a quoted cell is never closed (a missing `"`)'),
            line=int(m.group(1)) + 1,
        )
    return InputError(
        source.path, _("cannot parse the file as CSV: {reason}", reason=text.splitlines()[-1])
    )


def _decode_error(source: Source, exc: UnicodeDecodeError) -> InputError:
    encoding = _encoding(source)
    line, column = _locate_undecodable(source.path, encoding)
    hint = (
        _("; pass {opt:encoding} (e.g. {opt:encoding} cp1258 or {opt:encoding} latin-1) to read it")
        if source.encoding is None
        else ""
    )
    return InputError(
        source.path,
        _(
            "not valid {encoding} ({reason}){hint}",
            encoding=encoding.replace("-sig", "").upper(),
            reason=exc.reason,
            hint=hint,
        ),
        line=line,
        column=column,
    )


def _locate_undecodable(path: Path, encoding: str) -> tuple[int | None, int | None]:
    """Line and column (1-based, in characters) of the first byte that does not decode."""
    if "16" in encoding or "32" in encoding:
        return None, None  # lines of bytes would split its characters
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding if number == 1 else encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                prefix = raw[: exc.start].decode(encoding, errors="replace")
                return number, len(prefix) + 1
    return None, None


# --- Workbooks: XLSX, XLS, ODS -------------------------------------------------
# python-calamine (the library under pandas' "calamine" engine) directly: it
# reads all three formats, and gives each cell's own type (a number cell is a
# float, so a rounded id is caught) and position (blank rows keep their line),
# both of which pandas.read_excel would hide. Hidden rows it does not give:
# they are read from the file's XML (sheet/hidden.py).


def _workbook(source: Source) -> Any:
    import python_calamine

    try:
        return python_calamine.CalamineWorkbook.from_path(str(source.path))
    except python_calamine.PasswordError:
        raise InputError(
            source.path, _("the workbook is password-protected; save a copy without a password")
        ) from None
    except Exception as exc:  # calamine raises its own kinds, zip and XML errors
        kind = FORMAT_NAMES.get(source_format(source), "spreadsheet")
        raise InputError(
            source.path, _("cannot open as an {kind} workbook: {exc}", kind=kind, exc=exc)
        ) from None


def _pick_sheet(source: Source, book: Any) -> tuple[str, list[str]]:
    """The sheet to read, and the hidden sheets before it (the user is told of them)."""
    import python_calamine

    sheets = [m for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    if source.sheet is not None:
        wanted = nfc(source.sheet)
        for meta in sheets:
            if nfc(meta.name) == wanted:
                return meta.name, []
        names = ", ".join(repr(m.name) for m in sheets)
        raise InputError(
            source.path,
            _("no sheet named {sheet}; sheets: {names}", sheet=repr(source.sheet), names=names),
        )
    hidden: list[str] = []
    for meta in sheets:
        if meta.visible == python_calamine.SheetVisibleEnum.Visible:
            return meta.name, hidden
        hidden.append(meta.name)
    raise InputError(source.path, _("the workbook has no visible sheet; pass {opt:sheet} NAME"))


@dataclass(frozen=True)
class _Sheet:
    name: str
    rows: list[list[Any]]
    """From line 1 and column A, however far down the first cell is."""
    hidden: frozenset[int]
    """Line numbers of rows hidden in the file (by hand or by a filter)."""


def _read_sheet(source: Source) -> _Sheet:
    from batch_sender.sheet.hidden import hidden_rows

    book = _workbook(source)
    try:
        name, _before = _pick_sheet(source, book)
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # a damaged part of the file
            raise InputError(
                source.path, _("cannot read sheet {name}: {exc}", name=repr(name), exc=exc)
            ) from None
    finally:
        book.close()
    return _Sheet(name, rows, hidden_rows(source.path, source_format(source), name))


def _xlsx_header(source: Source) -> list[str]:
    sheet = _read_sheet(source)
    header = [cell_text(v) for v in (sheet.rows[0] if sheet.rows else ())]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise InputError(source.path, _("line 1 is empty; the header must be on line 1"), line=1)
    return header


def _xlsx_chunks(table: Table) -> Iterator[pd.DataFrame]:
    source = table.source
    width = len(table.header)
    id_position = table.fields["user_id"]
    sheet = _read_sheet(source)
    hidden_policy = source.hidden_rows
    rows: list[list[str]] = []
    lines: list[int] = []
    long_ids: set[int] = set()
    hidden: set[int] = set()
    for line, values in enumerate(sheet.rows[1:], start=2):
        beyond = [i for i, v in enumerate(values[width:], start=width) if _has_value(v)]
        if beyond:
            raise InputError(
                source.path,
                _(
                    "this row has a value beyond the header's {width} columns (column {column}); "
                    "give that column a header",
                    width=width,
                    column=beyond[0] + 1,
                ),
                line=line,
            )
        cells = list(values[:width]) + [None] * (width - len(values))
        if not any(_has_value(v) for v in cells):
            continue
        if line in sheet.hidden:
            if hidden_policy == HIDDEN_REFUSE:
                raise _hidden_error(source, sheet, line)
            if hidden_policy == HIDDEN_SKIP:
                hidden.add(line)
        if _is_long_number(cells[id_position]):
            long_ids.add(line)
        rows.append([cell_text(v) for v in cells])
        lines.append(line)
        if len(rows) >= source.chunk_rows:
            yield _text_frame(table.header, rows, lines, long_ids, hidden)
            rows, lines, long_ids, hidden = [], [], set(), set()
    if rows:
        yield _text_frame(table.header, rows, lines, long_ids, hidden)


def _hidden_error(source: Source, sheet: _Sheet, first: int) -> InputError:
    count = sum(
        1
        for line in sheet.hidden
        if 2 <= line <= len(sheet.rows) and any(_has_value(v) for v in sheet.rows[line - 1])
    )
    rows = "1 row is" if count == 1 else f"{count:,} rows are"
    return InputError(
        source.path,
        _(
            "sheet {name}: {rows} hidden (by hand or by a filter), the first on line {first}; "
            "show them in the spreadsheet, or pass {opt:hidden_rows} skip (not sent, listed as "
            "excluded) or {opt:hidden_rows} send",
            name=repr(sheet.name),
            rows=rows,
            first=first,
        ),
        line=first,
    )


def _text_frame(
    header: list[str],
    rows: list[list[str]],
    lines: list[int],
    long_ids: set[int],
    hidden: set[int] | None = None,
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines), dtype=object)
    frame.attrs[LONG_NUMBER_IDS] = frozenset(long_ids)
    if hidden:
        frame.attrs[HIDDEN_LINES] = frozenset(hidden)
    return frame


# --- Parquet (for data teams; needs pyarrow, which is not a dependency) --------


def _parquet_file(source: Source) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            source.path, _("reading .parquet needs pyarrow: pip install pyarrow")
        ) from None
    try:
        return pq.ParquetFile(source.path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError kinds
        raise InputError(source.path, _("cannot open as Parquet: {exc}", exc=exc)) from None


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
