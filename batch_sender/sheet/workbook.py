"""Workbooks (XLSX, XLS, ODS) and Parquet: the sheet, its header, the rows in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from batch_sender.errors import InputError
from batch_sender.i18n import _, ngettext
from batch_sender.sheet.cells import (
    cell_text,
    has_value,
    is_long_number,
    nfc,
    text_frame,
)
from batch_sender.sheet.source import (
    FORMAT_NAMES,
    HIDDEN_REFUSE,
    HIDDEN_SKIP,
    Source,
    source_format,
)

if TYPE_CHECKING:
    from batch_sender.sheet.reader import Table


# python-calamine (the library under pandas' "calamine" engine) directly: it
# reads all three formats, and gives each cell's own type (a number cell is a
# float, so a rounded id is caught) and position (blank rows keep their line),
# both of which pandas.read_excel would hide. Hidden rows it does not give:
# they are read from the file's XML (sheet/hidden.py).


def workbook(source: Source) -> Any:
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


def pick_sheet(source: Source, book: Any) -> tuple[str, list[str]]:
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


def read_sheet(source: Source) -> _Sheet:
    from batch_sender.sheet.hidden import hidden_rows

    book = workbook(source)
    try:
        name, _before = pick_sheet(source, book)
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # a damaged part of the file
            raise InputError(
                source.path, _("cannot read sheet {name}: {exc}", name=repr(name), exc=exc)
            ) from None
    finally:
        book.close()
    return _Sheet(name, rows, hidden_rows(source.path, source_format(source), name))


def xlsx_header(source: Source) -> list[str]:
    sheet = read_sheet(source)
    header = [cell_text(v) for v in (sheet.rows[0] if sheet.rows else ())]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise InputError(source.path, _("line 1 is empty; the header must be on line 1"), line=1)
    return header


def xlsx_chunks(table: Table) -> Iterator[pd.DataFrame]:
    source = table.source
    width = len(table.header)
    id_position = table.fields["user_id"]
    sheet = read_sheet(source)
    hidden_policy = source.hidden_rows
    rows: list[list[str]] = []
    lines: list[int] = []
    long_ids: set[int] = set()
    hidden: set[int] = set()
    for line, values in enumerate(sheet.rows[1:], start=2):
        beyond = [i for i, v in enumerate(values[width:], start=width) if has_value(v)]
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
        if not any(has_value(v) for v in cells):
            continue
        if line in sheet.hidden:
            if hidden_policy == HIDDEN_REFUSE:
                raise _hidden_error(source, sheet, line)
            if hidden_policy == HIDDEN_SKIP:
                hidden.add(line)
        if is_long_number(cells[id_position]):
            long_ids.add(line)
        rows.append([cell_text(v) for v in cells])
        lines.append(line)
        if len(rows) >= source.chunk_rows:
            yield text_frame(table.header, rows, lines, long_ids, hidden)
            rows, lines, long_ids, hidden = [], [], set(), set()
    if rows:
        yield text_frame(table.header, rows, lines, long_ids, hidden)


def _hidden_error(source: Source, sheet: _Sheet, first: int) -> InputError:
    count = sum(
        1
        for line in sheet.hidden
        if 2 <= line <= len(sheet.rows) and any(has_value(v) for v in sheet.rows[line - 1])
    )
    rows = ngettext("{n:,} row is", "{n:,} rows are", count)
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


def parquet_file(source: Source) -> Any:
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


def parquet_chunks(table: Table) -> Iterator[pd.DataFrame]:
    """Typed Parquet cells as the text a user would see; an int64 id keeps every digit."""
    parquet = parquet_file(table.source)
    id_position = table.fields["user_id"]
    line = 2  # as if the file had a header line
    for batch in parquet.iter_batches(batch_size=table.source.chunk_rows):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows: list[list[str]] = []
        lines: list[int] = []
        long_ids: set[int] = set()
        for values in zip(*columns, strict=True):
            if any(has_value(v) for v in values):
                # A float id has been rounded on its way into the file, like an XLSX number.
                if isinstance(values[id_position], float) and is_long_number(values[id_position]):
                    long_ids.add(line)
                rows.append([cell_text(v) for v in values])
                lines.append(line)
            line += 1
        if rows:
            yield text_frame(table.header, rows, lines, long_ids)
