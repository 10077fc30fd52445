"""Files that appear whole or not at all, and the writers that fill them (CSV, XLSX)."""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd

from batch_sender.errors import BatchSenderError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _
from batch_sender.results.digest import hashed_text
from batch_sender.sheet.source import is_special_file


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


_TEMP_SUFFIX = ".tmp"


def temp_name(path: Path) -> str:
    """The longest name `atomic_path` may give its temporary file (mkstemp adds 8 letters)."""
    return f"{_temp_prefix(path)}{'X' * 8}{_TEMP_SUFFIX}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_orphans(path: Path) -> None:
    """Delete temporary files that a killed run left beside `path`."""
    for orphan in path.parent.glob(f"{glob.escape(_temp_prefix(path))}*{_TEMP_SUFFIX}"):
        orphan.unlink(missing_ok=True)


class RowWriter(Protocol):
    fingerprint: str | None
    """The file's as `results.digest` tells it, once written (None: to be read from it)."""

    def write(self, rows: pd.DataFrame) -> None: ...


@contextlib.contextmanager
def open_output(path: Path, *, bom: bool = False) -> Iterator[RowWriter]:
    """A result (or report) writer by the file's extension, written whole or not at all."""
    if path.suffix.lower() == ".xlsx":
        with atomic_path(path) as temp:
            writer = XlsxWriter()
            try:
                yield writer
            except BaseException:
                writer.discard()
                raise
            writer.save(temp)
        return
    rows: CsvWriter  # told its fingerprint only once written, so always there by then

    def written(fingerprint: str) -> None:
        rows.fingerprint = fingerprint

    with atomic_text_file(path, bom=bom, digested=written) as f:
        rows = CsvWriter(f)
        yield rows


is_stream = is_special_file
"""Whether an output is there and neither a file nor a folder: a FIFO, a device, /dev/stdout."""


# The kernel's own folders: a name there (/dev/stdout, /proc/self/fd/1) is an
# open file or a device, whatever the file it leads to is.
_SYSTEM_FOLDERS = (Path("/dev"), Path("/proc"), Path("/sys"))
_DESCRIPTOR = re.compile(r"/(?:dev/fd|proc/(?:self|thread-self|\d+)/fd)/(\d+)")
_STANDARD = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def written_in_place(path: Path) -> bool:
    """Whether `path` is written into rather than replaced: a link, a stream, a system name.

    A rename would replace the link by a file (as root, /dev/stdout itself
    for every later process), or a FIFO by a file nobody reads.
    """
    return path.is_symlink() or is_stream(path) or is_system_name(path)


def is_system_name(path: Path) -> bool:
    """Whether `path` is in /dev, /proc or /sys, or leads to this process's descriptor."""
    places = [Path(os.path.normpath(path.absolute()))]
    with contextlib.suppress(OSError, RuntimeError):
        places.append(path.resolve())
    if any(place.is_relative_to(folder) for place in places for folder in _SYSTEM_FOLDERS):
        return True
    return own_descriptor(path) is not None


def own_descriptor(path: Path) -> int | None:
    """N when `path` leads to this process's descriptor N (/dev/stdout, a link to /proc/self/fd/N).

    Written through a copy of that descriptor, the text lands where the
    process's own output goes (after what a redirection's file holds already);
    opening the name again would truncate that file or write over it.
    """
    name = os.path.normpath(path.absolute())
    for _hop in range(40):  # as many links as the kernel follows
        if name in _STANDARD:
            return _STANDARD[name]
        found = _DESCRIPTOR.fullmatch(name)
        if found is not None:
            pid = name.split("/")[2]
            if name.startswith("/dev/") or not pid.isdigit() or int(pid) == os.getpid():
                return int(found[1])
            return None
        try:
            target = Path(name).readlink()
        except OSError:
            return None
        name = os.path.normpath(Path(name).parent / target)
    return None


FIFO_WAIT = 10.0
"""Seconds a FIFO is given to be opened by its reader, once the text for it is ready."""


class NoReader(BatchSenderError):
    """A FIFO nobody opened for reading: nothing was written to it."""

    exit_code = ExitCode.STOPPED

    def __init__(self, path: Path) -> None:
        super().__init__(_("no reader on the FIFO {path}; nothing written to it", path=path))
        self.path = path


def opened_fifo(
    path: Path, stopped: Callable[[], bool] | None = None, wait: float | None = None
) -> IO[bytes]:
    """The FIFO opened for writing once a reader has it open; NoReader if none comes.

    A plain open would block until a reader comes, if ever, deaf to a stop:
    this one waits at most `wait` seconds (FIFO_WAIT), and not once `stopped()`.
    """
    deadline = time.monotonic() + (FIFO_WAIT if wait is None else wait)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if time.monotonic() >= deadline or (stopped is not None and stopped()):
                raise NoReader(path) from None
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)  # a reader is there: it takes the text at its pace
        return os.fdopen(fd, "wb")


@contextlib.contextmanager
def atomic_path(path: Path, stopped: Callable[[], bool] | None = None) -> Iterator[Path]:
    """A temporary path beside `path`, renamed into place if the block succeeds.

    What `written_in_place` names (a link, a FIFO, a device, a shell's
    `>(...)`, /dev/stdout) is written into instead, once the block succeeds
    (a FIFO once its reader opens it: see `opened_fifo`).
    """
    if written_in_place(path):
        with _temporary(path, None) as temp:
            yield temp
            try:
                with temp.open("rb") as done, _opened_in_place(path, stopped) as stream:
                    shutil.copyfileobj(done, stream, 1 << 20)
            except OSError as exc:
                raise _naming(exc, path) from None
        return
    with temporary_beside(path) as temp:
        yield temp
        try:
            temp.replace(path)
        except OSError as exc:
            raise _naming(exc, path) from None


def _opened_in_place(path: Path, stopped: Callable[[], bool] | None) -> IO[bytes]:
    descriptor = own_descriptor(path)
    if descriptor is not None:
        with contextlib.suppress(OSError):  # not open here: the name is opened, and fails so
            return os.fdopen(os.dup(descriptor), "wb")
    with contextlib.suppress(OSError):
        if stat.S_ISFIFO(path.stat().st_mode):
            return opened_fifo(path, stopped)
    return path.open("wb")


@contextlib.contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """An empty temporary file beside `path`, gone after the block unless moved into place.

    Named so that remove_orphans finds it if the process is killed.
    """
    with _temporary(path, path.parent) as temp:
        yield temp


@contextlib.contextmanager
def _temporary(path: Path, folder: Path | None) -> Iterator[Path]:
    """An empty temporary file for `path` in `folder` (None: the system's), gone after."""
    try:
        handle, temp_name = tempfile.mkstemp(
            dir=folder, prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX
        )
    except OSError as exc:
        raise _naming(exc, path) from None
    os.close(handle)
    temp = Path(temp_name)
    try:
        temp.chmod(0o666 & ~_umask())
        yield temp
    except OSError as exc:
        raise _naming(exc, path) from None
    finally:
        temp.unlink(missing_ok=True)


# What a full or read-only disk raises, whichever write or rename meets it.
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _naming(exc: OSError, path: Path) -> OSError:
    """A failed write named after the file the user asked for, not our temporary one."""
    if exc.errno not in WRITE_FAILURES:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


@contextlib.contextmanager
def atomic_text_file(
    path: Path,
    *,
    bom: bool = False,
    stopped: Callable[[], bool] | None = None,
    digested: Callable[[str], None] | None = None,
) -> Iterator[IO[str]]:
    """A text file that appears at `path` complete, or not at all (stopped: see opened_fifo).

    digested: told the file's fingerprint once it is in place, from the bytes as
    they were written (not for what is written into in place: see atomic_path).
    """
    hashing = digested is not None and not written_in_place(path)
    encoding = "utf-8-sig" if bom else "utf-8"
    with atomic_path(path, stopped) as temp:
        f, digest = hashed_text(temp, encoding) if hashing else (_plain_text(temp, encoding), None)
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    if digested is not None and digest is not None:
        digested(digest.fingerprint())


def _plain_text(temp: Path, encoding: str) -> IO[str]:
    return temp.open("w", encoding=encoding, newline="", buffering=1 << 20)


class CsvWriter:
    """Streams chunks of output rows into one CSV file."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f
        # CRLF (RFC 4180): the csv module then quotes a cell holding a lone \r
        # too, which a "\n" terminator would leave bare, splitting the row.
        self.writer = csv.writer(f, lineterminator="\r\n")
        self.header_written = False
        self.fingerprint: str | None = None

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
    if '"' not in joined and "\r" not in joined and "\n" not in joined:
        # Commas only (a text's own): quoted, nothing inside to double.
        return ['"' + v + '"' if "," in v else v for v in values]
    return [
        '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v or "\r" in v or "\n" in v) else v
        for v in values
    ]


# All of C0: openpyxl's own escape() stops at \x19 and leaves ESC and \x1a-\x1f
# to fail as IllegalCharacterError (an eSMS ErrorMessage with a colour code).
_CONTROL = re.compile("[\x00-\x1f]")


def _escaped(match: re.Match[str]) -> str:
    return f"_x{ord(match.group(0)):04x}_"


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
        self.fingerprint: str | None = None

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

        # Control characters cannot stand in XLSX XML: Excel's own _xHHHH_
        # escapes keep them, and openpyxl or Excel reading the file get them back.
        cell = WriteOnlyCell(self.sheet, _CONTROL.sub(_escaped, str(value)))
        cell.data_type = "s"  # openpyxl would take a leading "=" as a formula
        return cell

    def save(self, path: Path) -> None:
        self.book.save(path)

    def discard(self) -> None:
        """A workbook not to be saved (a refusal, a bad line): its rows' stream is closed now.

        Left open, the stream would be closed when collected, after its file,
        and print a traceback besides the run's one-line error.
        """
        with contextlib.suppress(Exception):
            self.sheet.close()
