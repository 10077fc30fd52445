"""--send-at: eSMS's SendDate, in Vietnam time, never in the past for a new campaign."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from batch_sender.errors import UsageError
from batch_sender.i18n import _

VIETNAM = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam keeps UTC+7 all year (no daylight saving), so no tz database is needed."""
SEND_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def now() -> dt.datetime:
    """The current time (tests move it past a campaign's --send-at)."""
    return dt.datetime.now(dt.UTC)


class InThePast(UsageError):
    """--send-at is not in the future: a new campaign cannot be scheduled for then."""

    def __init__(self, message: str, send_date: str) -> None:
        super().__init__(message)
        self.send_date = send_date


def send_date(text: str, current: dt.datetime | None = None) -> str:
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
    there = (current or now()).astimezone(VIETNAM)
    value = when.strftime(SEND_DATE_FORMAT)
    if when <= there:
        raise InThePast(
            _(
                "{opt:send_at} {when} (Vietnam time) is in the past; it is now {now} there",
                when=value,
                now=there.strftime(SEND_DATE_FORMAT),
            ),
            value,
        )
    return value


def passed_line(send_date: str) -> str:
    """The plan line of a scheduled campaign rerun after its time."""
    return _(
        "--send-at {when} (Vietnam time) has passed: the campaign continues and "
        "its rows still to send go out now",
        when=send_date,
    )


def campaign_has_sent(journal: Path, campaign_id: str) -> bool:
    """Whether this journal is this campaign's and holds at least one request.

    Read-only, and without the journal's machinery: a missing, locked or
    damaged journal is simply not a campaign under way (the send then says
    what is wrong with it, or refuses the time as for a new campaign).
    """
    if not journal.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'campaign_id'").fetchone()
        if row is None or row[0] != campaign_id:
            return False
        return conn.execute("SELECT 1 FROM messages LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()
