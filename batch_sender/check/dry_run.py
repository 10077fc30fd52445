"""The dry run: read and validate every row, write the report; nothing is sent.

Kept apart from the send path so that `validate` never loads aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from batch_sender.check.rules import Campaign, Checks, Validator
from batch_sender.errors import InputError
from batch_sender.i18n import _
from batch_sender.results.files import open_output
from batch_sender.results.paths import is_spreadsheet
from batch_sender.results.rows import output_rows, report_rows
from batch_sender.results.tally import Tally
from batch_sender.sheet.reader import Table


def checked_chunks(
    table: Table, campaign: Campaign, checks: Checks, *, request_ids: bool = True
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(input chunk, validation) pairs in input order; raise if the file has no rows."""
    validator = Validator(campaign, table.fields, request_ids=request_ids, checks=checks)
    rows = 0
    for chunk in table.chunks():
        rows += len(chunk)
        yield chunk, validator.check(chunk)
    if rows == 0:
        raise InputError(table.source.path, _("has a header but no rows"))


def validate_file(
    table: Table,
    campaign: Campaign,
    report: Path | None = None,
    *,
    checks: Checks | None = None,
    excel: bool = False,
) -> Tally:
    """The dry run: check every row, write the report if asked, send nothing."""
    tally = Tally()
    chunks = checked_chunks(table, campaign, checks or Checks(), request_ids=False)
    if report is None:
        for chunk, checked in chunks:
            tally.add(report_rows(chunk, checked))
        return tally
    spreadsheet = is_spreadsheet(report, excel=excel)
    with open_output(report, bom=excel) as writer:
        for chunk, checked in chunks:
            extra = report_rows(chunk, checked)
            tally.add(extra)
            templated = checked if checks and checks.template else None
            writer.write(output_rows(chunk, extra, templated, spreadsheet=spreadsheet))
    return tally
