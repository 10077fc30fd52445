"""The sheet checked chunk by chunk: each input chunk with its rows' verdicts.

Kept apart from the send path so that `validate` never loads aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import Checks, Validator
from batch_sender.errors import InputError
from batch_sender.i18n import _
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
        raise InputError(table.source.display, _("has a header but no rows"))
