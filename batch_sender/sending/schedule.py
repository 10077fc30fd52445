"""--send-at: eSMS's SendDate, in Vietnam time, never in the past."""

from __future__ import annotations

import datetime as dt

from batch_sender.errors import UsageError
from batch_sender.i18n import _

VIETNAM = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam keeps UTC+7 all year (no daylight saving), so no tz database is needed."""
SEND_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def send_date(text: str, now: dt.datetime | None = None) -> str:
    """'2026-12-01 09:00' (Vietnam time unless an offset is given) -> eSMS's SendDate."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            _(
                "{opt:send_at} {text} is not a date and time; write it as '2026-12-01 09:00' "
                "(Vietnam time) or with an offset, '2026-12-01T09:00+07:00'",
                text=repr(text),
            )
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=VIETNAM)
    when = when.astimezone(VIETNAM)
    current = (now or dt.datetime.now(dt.UTC)).astimezone(VIETNAM)
    if when <= current:
        raise UsageError(
            _(
                "{opt:send_at} {when} (Vietnam time) is in the past; it is now {now} there",
                when=when.strftime(SEND_DATE_FORMAT),
                now=current.strftime(SEND_DATE_FORMAT),
            )
        )
    return when.strftime(SEND_DATE_FORMAT)
