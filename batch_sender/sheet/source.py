"""Where the rows come from: the input file, which columns hold the fields, and what the file is."""

from __future__ import annotations

import codecs
import functools
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

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


def is_special_file(path: Path) -> bool:
    """Whether `path` is there and neither a file nor a folder: a FIFO, a device, /dev/stdin."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


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
    def display(self) -> Path:
        """The input as the user named it: what every line, error and summary shows."""
        return self.path if self.shown is None else Path(self.shown)

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


def _shown(source: Source, exc: InputError) -> InputError:
    return exc if source.shown is None else exc.shown_as(source.shown)


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
