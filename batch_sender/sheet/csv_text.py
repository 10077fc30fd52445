"""CSV and other delimited text: the encoding, the delimiter, the header, the rows in chunks."""

from __future__ import annotations

import codecs
import csv
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from batch_sender.errors import InputError
from batch_sender.i18n import N_, _
from batch_sender.sheet.cells import (
    drop_blank,
    sized,
)
from batch_sender.sheet.source import (
    DEFAULT_ENCODING,
    DELIMITERS,
    Source,
)

if TYPE_CHECKING:
    from batch_sender.sheet.reader import Table


def _encoding(source: Source) -> str:
    if source.encoding is not None and not _needs_bom(source.encoding):
        return source.encoding
    try:
        stat = source.path.stat()
    except OSError:
        return source.encoding or DEFAULT_ENCODING
    sniffed = _sniff_encoding(source.path, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if source.encoding is None:
        return sniffed
    # Python's plain utf-16 refuses a file without a BOM; such files are Windows' own
    # (little-endian) unless the zero bytes say otherwise.
    return sniffed if sniffed.startswith("utf-16") else "utf-16-le"


def _needs_bom(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-16"
    except LookupError:
        return False


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


def csv_header(source: Source, delimiter: str) -> list[str]:
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


def csv_chunks(table: Table) -> Iterator[pd.DataFrame]:
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
            for chunk in sized(reader, source.chunk_rows):
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
                yield drop_blank(chunk)
    except UnicodeDecodeError as exc:
        raise _decode_error(source, exc) from None
    except pd.errors.ParserError as exc:
        raise _parser_error(source, exc) from None


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


# What Python's decoders say of a bad byte, in the reader's words where known.
_DECODE_REASONS = {
    "invalid start byte": N_("invalid start byte"),
    "invalid continuation byte": N_("invalid continuation byte"),
    "unexpected end of data": N_("unexpected end of data"),
    "truncated data": N_("truncated data"),
    "character maps to <undefined>": N_("character maps to <undefined>"),
}


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
            reason=_(_DECODE_REASONS[exc.reason]) if exc.reason in _DECODE_REASONS else exc.reason,
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
