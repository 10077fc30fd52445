"""A result file as a DataFrame with the types its columns really hold.

pandas guesses from the digits: ids become uint64 (or float64, rounded), a
phone number loses its leading 0, CodeResult becomes 100.0 beside an empty
cell. Here every column is text (pandas' "string"), exactly as written,
empty cells as "", except `row` and `attempts`, which are whole numbers
("Int64"). A file written for a spreadsheet (.xlsx, or a CSV with a BOM)
holds our cells that start like a formula (`-114 ...`) behind a `'`; they
come back without it, as `report` shows them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.results.result_file import NUMBER_COLUMNS, read_result_file
from batch_sender.results.rows import NOT_INERT, RESULT_COLUMNS, readable


def read_results(path: Path) -> pd.DataFrame:
    """The result file at `path` (.csv or .xlsx), one DataFrame row per result row."""
    header, reader = read_result_file(path)
    with reader:
        chunks = list(reader)
    width = len(header)
    frame = (
        pd.concat(chunks, ignore_index=True)
        if chunks
        else pd.DataFrame(columns=range(width), dtype=object)
    )
    base = width - len(RESULT_COLUMNS)
    numbers = {base + RESULT_COLUMNS.index(name): name for name in NUMBER_COLUMNS}
    guarded = set()
    if _for_spreadsheets(path):
        skip = {*NUMBER_COLUMNS, *NOT_INERT}
        guarded = {base + i for i, name in enumerate(RESULT_COLUMNS) if name not in skip}
    columns: dict[int, pd.Series | pd.api.extensions.ExtensionArray] = {}
    for at in range(width):
        values = frame[at]
        if at in numbers:
            columns[at] = _whole_numbers(path, numbers[at], values.tolist())
        elif at in guarded:
            columns[at] = pd.array([readable(v) for v in values.tolist()], dtype=pd.StringDtype())
        else:
            columns[at] = values.astype(pd.StringDtype())
    typed = pd.DataFrame(columns)
    # Set afterwards: a user's column that shares a name with ours stays beside it.
    typed.columns = pd.Index(header, dtype=object)
    return typed


def _for_spreadsheets(path: Path) -> bool:
    """Written with our cells made inert (see results.rows.inert_cells)."""
    if path.suffix.lower() == ".xlsx":
        return True
    with path.open("rb") as f:
        return f.read(3) == b"\xef\xbb\xbf"


def _whole_numbers(path: Path, name: str, values: list[str]) -> pd.api.extensions.ExtensionArray:
    try:
        return pd.array([int(v) if v != "" else pd.NA for v in values], dtype=pd.Int64Dtype())
    except ValueError:
        bad = next(v for v in values if v != "" and not v.lstrip("-").isdigit())
        raise UsageError(
            _(
                "{path}: column {name} holds {bad}, not a whole number",
                path=path,
                name=repr(name),
                bad=repr(bad),
            )
        ) from None
