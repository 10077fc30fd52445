"""Cells as text, and rows in chunks: what every format's reader shares."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from batch_sender.sheet.source import (
    EXCEL_DIGITS,
    HIDDEN_LINES,
    LONG_NUMBER_IDS,
)

FIRST_CHUNK_ROWS = 500
"""A send starts on the first chunk: a small one lets it start as soon on a big sheet."""


def sized(reader: Any, rows: int) -> Iterator[pd.DataFrame]:
    """The reader's chunks: a small first one, then `rows` at a time."""
    size = min(rows, FIRST_CHUNK_ROWS)
    while True:
        try:
            yield reader.get_chunk(size)
        except StopIteration:
            return
        size = rows


def drop_blank(chunk: pd.DataFrame) -> pd.DataFrame:
    if chunk.empty:
        return chunk
    # A blank row has an empty first cell: only those need the full check.
    maybe = chunk.iloc[:, 0].to_numpy() == ""
    if not maybe.any():
        return chunk
    blank = np.zeros(len(chunk), dtype=bool)
    blank[maybe] = (chunk[maybe] == "").all(axis=1).to_numpy()
    return chunk[~blank] if blank.any() else chunk


def text_frame(
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


def has_value(value: object) -> bool:
    return value is not None and value != ""


def is_long_number(value: object) -> bool:
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


def nfc(text: str) -> str:
    """Text as typed on Windows: a Mac writes Vietnamese names decomposed (NFD)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)
