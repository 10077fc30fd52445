"""Read: a CSV (UTF-8 or UTF-16), XLSX, XLS, ODS or Parquet sheet as chunks of text cells.

The format is sniffed from the content, never from the name. Each row keeps
its line number.

Every cell is text from the first byte read: a 19-digit Zalo id must never
pass through a float. Each chunk is a DataFrame whose index is the row's line
number in the file as Excel shows it (header = 1), with blank rows dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from batch_sender.errors import InputError
from batch_sender.i18n import _
from batch_sender.sheet.cells import (
    nfc,
)
from batch_sender.sheet.csv_text import csv_chunks, csv_header, detect_delimiter
from batch_sender.sheet.source import (
    _REFUSED,
    Source,
    _shown,
    sniff_format,
)
from batch_sender.sheet.workbook import parquet_chunks, parquet_file, xlsx_chunks, xlsx_header


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
                yield from xlsx_chunks(self)
            elif self.source.is_parquet:
                yield from parquet_chunks(self)
            else:
                yield from csv_chunks(self)
        except InputError as exc:
            raise _shown(self.source, exc) from None


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
        header = xlsx_header(source)
        delimiter = ""
    elif source.is_parquet:
        header = [field.name for field in parquet_file(source).schema_arrow]
        delimiter = ""
    else:
        delimiter = source.delimiter or detect_delimiter(source)
        header = csv_header(source, delimiter)
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
