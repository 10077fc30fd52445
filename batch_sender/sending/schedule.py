"""--send-at: eSMS's SendDate, in Vietnam time, never in the past."""

from __future__ import annotations

import datetime as dt

from batch_sender.errors import UsageError

VIETNAM = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam keeps UTC+7 all year (no daylight saving), so no tz database is needed."""
SEND_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def send_date(text: str, now: dt.datetime | None = None) -> str:
    """'2026-12-01 09:00' (Vietnam time unless an offset is given) -> eSMS's SendDate."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{{opt:send_at}} {text!r} is not a date and time; write it as '2026-12-01 09:00' "
            "(Vietnam time) or with an offset, '2026-12-01T09:00+07:00'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=VIETNAM)
    when = when.astimezone(VIETNAM)
    current = (now or dt.datetime.now(dt.UTC)).astimezone(VIETNAM)
    if when <= current:
        raise UsageError(
            f"{{opt:send_at}} {when.strftime(SEND_DATE_FORMAT)} (Vietnam time) is in the past; "
            f"it is now {current.strftime(SEND_DATE_FORMAT)} there"
        )
    return when.strftime(SEND_DATE_FORMAT)
