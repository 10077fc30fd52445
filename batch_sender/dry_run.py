"""The dry run: read and validate every row, write the report; nothing is sent.

Kept apart from the send path so that `validate` never loads aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from batch_sender.errors import InputError
from batch_sender.reader import Table
from batch_sender.results import CsvWriter, atomic_text_file, output_rows, report_rows
from batch_sender.summary import Tally
from batch_sender.validate import Campaign, Validator


def checked_chunks(
    table: Table, campaign: Campaign, *, request_ids: bool = True
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(input chunk, validation) pairs in input order; raise if the file has no rows."""
    validator = Validator(campaign, table.fields, request_ids=request_ids)
    rows = 0
    for chunk in table.chunks():
        rows += len(chunk)
        yield chunk, validator.check(chunk)
    if rows == 0:
        raise InputError(table.source.path, "has a header but no rows")


def validate_file(
    table: Table, campaign: Campaign, report: Path | None = None, *, excel: bool = False
) -> Tally:
    """The dry run: check every row, write the report if asked, send nothing."""
    tally = Tally()
    if report is None:
        for chunk, checked in checked_chunks(table, campaign, request_ids=False):
            tally.add(report_rows(chunk, checked))
        return tally
    with atomic_text_file(report, bom=excel) as f:
        writer = CsvWriter(f)
        for chunk, checked in checked_chunks(table, campaign, request_ids=False):
            extra = report_rows(chunk, checked)
            tally.add(extra)
            writer.write(output_rows(chunk, extra))
    return tally
