"""Result files read back from Python, typed as they are written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from batch_sender.options import PathLike

if TYPE_CHECKING:
    import pandas as pd


def read_results(path: PathLike) -> pd.DataFrame:
    """A result file (.csv or .xlsx; send's or validate's) as a DataFrame with exact types.

    Every column is text (pandas' "string" dtype), exactly as written, empty
    cells as "": ids keep all their digits, a phone number its leading 0,
    CodeResult stays "100". `row` and `attempts` are whole numbers ("Int64").
    Raises UsageError if the file is missing or not a result file.
    """
    from batch_sender.results.typed import read_results as read

    return read(Path(path))
