"""Which rows of a workbook's sheet are hidden, by hand or by a filter.

The cell reader does not say, so the sheet's XML is scanned for it: in XLSX
a `<row r="N" hidden="1">` (or of height 0, as invisible: `ht="0"`, or a
customHeight row with no `ht` in a sheet whose default row height is 0), in ODS a
`<table:table-row>` whose visibility is `collapse` or `filter`. Both are
streamed: a sheet's XML can be far larger than the file. XLS (the binary format) is not scanned.

The standard library's expat parser resolves no external entity and refuses
entity expansion bombs, so a hostile workbook's XML is parsed safely.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b[^>]*>")
_HIDDEN = re.compile(rb'\shidden="(?:1|true)"')
_HEIGHT = re.compile(rb'\sht="([^"]*)"')
_CUSTOM_HEIGHT = re.compile(rb'\scustomHeight="(?:1|true)"')
_FORMAT_TAG = re.compile(rb"<(?:\w+:)?sheetFormatPr\b[^>]*>")
_DEFAULT_HEIGHT = re.compile(rb'\sdefaultRowHeight="([^"]*)"')
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_CHUNK = 1 << 20

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def hidden_rows(path: Path, kind: str, sheet: str) -> frozenset[int]:
    """Line numbers (1-based) of the hidden rows of `sheet`; empty if none or not known."""
    try:
        with zipfile.ZipFile(path) as archive:
            if kind == "xlsx":
                return _xlsx_hidden(archive, sheet)
            if kind == "ods":
                return _ods_hidden(archive, sheet)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError):
        pass  # the cell reader has read the file: a part it does not need is damaged
    return frozenset()


def _xlsx_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    book = ET.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314 (see the module)
    rel_id = next(
        (s.get(f"{_REL}id") for s in book.iter(f"{_MAIN}sheet") if s.get("name") == sheet), None
    )
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
    for rel in rels.iter(f"{_PKG_REL}Relationship"):
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def _xlsx_hidden(archive: zipfile.ZipFile, sheet: str) -> frozenset[int]:
    part = _xlsx_part(archive, sheet)
    if part is None:
        return frozenset()
    hidden: set[int] = set()
    number = 0  # a <row> without r="" is the one after the previous row
    default_height: float | None = None  # the sheet's, once its sheetFormatPr is read
    with archive.open(part) as f:
        rest = b""
        while chunk := f.read(_CHUNK):
            data = rest + chunk
            end = 0
            if default_height is None and (form := _FORMAT_TAG.search(data)):
                default_height = _height(_DEFAULT_HEIGHT.search(form.group()))
            for match in _ROW_TAG.finditer(data):
                tag = match.group()
                found = _ROW_NUMBER.search(tag)
                number = int(found.group(1)) if found else number + 1
                if _HIDDEN.search(tag) or _no_height(tag, default_height):
                    hidden.add(number)
                end = match.end()
            # Keep an unfinished tag for the next chunk.
            cut = data.rfind(b"<", end)
            rest = data[cut:] if cut >= 0 else b""
    return frozenset(hidden)


def _no_height(tag: bytes, default_height: float | None) -> bool:
    """A row of height 0: Excel shows nothing of it, as of a hidden row.

    A row with no height of its own has the sheet's default height, even
    marked customHeight (openpyxl writes `height = 0` so, and Excel and
    LibreOffice show such a row at the default height): only a default of 0
    makes it invisible.
    """
    height = _height(_HEIGHT.search(tag))
    if height is None:
        return _CUSTOM_HEIGHT.search(tag) is not None and default_height == 0
    return height == 0


def _height(found: re.Match[bytes] | None) -> float | None:
    """A height attribute's points; None when absent or not a number (not a row to hide)."""
    if found is None:
        return None
    try:
        return float(found.group(1))
    except ValueError:
        return None


def _ods_hidden(archive: zipfile.ZipFile, sheet: str) -> frozenset[int]:
    hidden: set[int] = set()
    inside, line = False, 1
    with archive.open("content.xml") as f:
        for event, element in ET.iterparse(f, events=("start", "end")):  # noqa: S314
            if element.tag == f"{_TABLE}table":
                if event == "start":
                    inside = element.get(f"{_TABLE}name") == sheet
                else:
                    if inside:
                        break
                    element.clear()
            elif inside and event == "start" and element.tag == f"{_TABLE}table-row":
                repeated = int(element.get(f"{_TABLE}number-rows-repeated", "1"))
                if element.get(f"{_TABLE}visibility", "visible") in ("collapse", "filter"):
                    # A tail of empty hidden rows can repeat a million times; no data there.
                    hidden.update(range(line, line + min(repeated, 1 << 16)))
                line += repeated
            elif event == "end" and element.tag == f"{_TABLE}table-row":
                element.clear()
    return frozenset(hidden)
