"""Suppression lists (--exclude): followers who must never be messaged.

A file is either a CSV with a user_id column (any delimiter the input may
use) or plain text with one id per line (blank lines and # comments skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from batch_sender.errors import InputError
from batch_sender.options import Reading
from batch_sender.sheet.reader import DELIMITERS, Columns, Source, open_table


def load_exclusions(
    paths: Iterable[Path], user_id_column: str = Reading.user_id_column
) -> frozenset[str]:
    ids: set[str] = set()
    for path in paths:
        ids |= _load(path, user_id_column)
    return frozenset(ids)


def _load(path: Path, user_id_column: str) -> set[str]:
    if not path.is_file():
        raise InputError(path, "no such suppression list ({opt:exclude})")
    try:
        with path.open(encoding="utf-8-sig") as f:
            first = next((s for line in f if (s := line.strip()) and not s.startswith("#")), "")
    except UnicodeDecodeError:
        raise InputError(path, "the suppression list is not UTF-8 text") from None
    header = {cell.strip().casefold() for cell in re.split(r"[,;\t|]", first)}
    wanted = user_id_column.strip().casefold()
    if header & {wanted, "user_id"} or any(d in first for d in DELIMITERS):
        # The reader matches the name exactly, else in any case (User_ID).
        name = user_id_column if wanted in header else "user_id"
        source = Source(path=path, columns=Columns(user_id=name, text=None, url=None))
        table = open_table(source)
        position = table.fields["user_id"]
        return {
            value.strip()
            for chunk in table.chunks()
            for value in chunk.iloc[:, position].tolist()
            if value.strip()
        }
    with path.open(encoding="utf-8-sig") as f:
        return {s for line in f if (s := line.strip()) and not s.startswith("#")}
