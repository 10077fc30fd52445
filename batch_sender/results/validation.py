"""The dry run's report: every row checked and written with its verdict; nothing is sent."""

from __future__ import annotations

from pathlib import Path

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import Checks
from batch_sender.results.files import open_output
from batch_sender.results.paths import is_spreadsheet
from batch_sender.results.rows import output_rows, report_rows
from batch_sender.results.tally import Tally
from batch_sender.sheet.reader import Table


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
