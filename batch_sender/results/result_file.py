"""A result file read back: its header, its rows in chunks, its delivery columns refreshed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import DELIVERY_COLUMNS
from batch_sender.journal.store import Journal
from batch_sender.results.adoption import remember_written
from batch_sender.results.files import CsvWriter, atomic_text_file
from batch_sender.results.rows import RESULT_COLUMNS, inert


def rewrite_deliveries(path: Path, journal: Journal) -> int:
    """Refresh the delivery columns of a CSV result file from the journal; rows rewritten.

    The result file itself is the source (not the input, which the callback
    receiver does not know): every other cell is copied as it was.
    """
    header, reader = read_result_file(path)
    rid_at = len(header) - len(RESULT_COLUMNS) + RESULT_COLUMNS.index("RequestId")
    first_delivery = len(header) - len(DELIVERY_COLUMNS)
    with path.open("rb") as raw:
        bom = raw.read(3) == b"\xef\xbb\xbf"
    rows = 0
    with reader, atomic_text_file(path, bom=bom) as f:
        writer = CsvWriter(f)
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
            rows += len(chunk)
    remember_written(journal, path)  # still the journal's own: the next send may rewrite it
    return rows


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
        raise UsageError(f"{path}: delivery status is kept in .csv result files only")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such result file; run `batch-sender send` first") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    if header[-len(RESULT_COLUMNS) :] != RESULT_COLUMNS:
        raise UsageError(f"{path}: not a batch-sender result file (its last columns differ)")
    return header
