"""A result file read back: its header, its rows in chunks, its delivery columns refreshed."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import DELIVERY_COLUMNS
from batch_sender.i18n import _
from batch_sender.journal.files import no_send_running
from batch_sender.journal.store import Journal
from batch_sender.results.adoption import fingerprint, remember_written
from batch_sender.results.files import CsvWriter, temporary_beside
from batch_sender.results.rows import RESULT_COLUMNS, inert


def rewrite_deliveries(path: Path, journal: Journal) -> bool:
    """Refresh the delivery columns of a CSV result file from the journal; False if not now.

    The result file itself is the source (not the input, which the callback
    receiver does not know): every other cell is copied as it was. The copy
    is made without the campaign's lock, so a send is never kept waiting
    by it, however long the file; it replaces the file only if no send is
    running and none wrote the file meanwhile (False: try again later).
    """
    with no_send_running(journal.path) as free:
        if not free:
            return False  # a copy now would only be thrown away
    before = _identity(path)
    header, reader = read_result_file(path)
    with path.open("rb") as raw:
        bom = raw.read(3) == b"\xef\xbb\xbf"
    with reader, temporary_beside(path) as temp:
        encoding = "utf-8-sig" if bom else "utf-8"
        with temp.open("w", encoding=encoding, newline="", buffering=1 << 20) as f:
            _copy_with_deliveries(header, reader, CsvWriter(f), journal, bom=bom)
            f.flush()
            os.fsync(f.fileno())
        try:
            written = fingerprint(temp)  # before the lock: it is held for the rename alone
        except FileNotFoundError:
            return False  # a send starting cleared it away as a killed run's
        with no_send_running(journal.path) as free:
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
    header: list[str], reader: Any, writer: CsvWriter, journal: Journal, *, bom: bool
) -> None:
    rid_at = len(header) - len(RESULT_COLUMNS) + RESULT_COLUMNS.index("RequestId")
    first_delivery = len(header) - len(DELIVERY_COLUMNS)
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


def result_header(path: Path) -> list[str]:
    """The header of a batch-sender CSV result file; UsageError if it is not one."""
    if path.suffix.lower() != ".csv":
        raise UsageError(_("{path}: delivery status is kept in .csv result files only", path=path))
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except FileNotFoundError:
        raise UsageError(
            _("{path}: no such result file; run `batch-sender send` first", path=path)
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(_("{path}: cannot read it ({exc})", path=path, exc=exc)) from None
    if header[-len(RESULT_COLUMNS) :] != RESULT_COLUMNS:
        raise UsageError(
            _("{path}: not a batch-sender result file (its last columns differ)", path=path)
        )
    return header
