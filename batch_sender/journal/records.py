"""What the journal records of a message: its outcome this run, and its row in the journal."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

DUPLICATE_BLOCK_SECONDS = 24 * 3600
"""How long eSMS refuses a repeated RequestId: past it, a resend may deliver twice."""


STALE_AFTER = DUPLICATE_BLOCK_SECONDS - 3600
"""An hour's margin: a row checked at 23:59 must not go out at 24:01."""


SENDING = "sending"


ACCEPTED = "accepted"


REJECTED = "rejected"


FAILED = "failed"


FINAL = frozenset({ACCEPTED, REJECTED})
"""Never sent again. Failed rows and rows left `sending` by a crash are."""


@dataclass(frozen=True)
class Outcome:
    """A row's final result for this run."""

    status: str
    code: str = ""
    smsid: str = ""
    message: str = ""


class Record(NamedTuple):
    """A message's row in the journal.

    A tuple, not a dataclass: a rerun reads a Record for every row of a big
    journal, and making one from SQLite's row is a fifth of a dataclass's cost.
    """

    request_id: str
    line: int
    status: str
    code: str
    smsid: str
    message: str
    attempts: int
    last_sent_at: float | None
    ambiguous_since: float | None
    row_key: str = ""
    """The sheet row it was sent for: user_id, and `#k` for its k-th row (see validate)."""
    user_id: str = ""
    content_id: str = ""
    """The RequestId of its content's first try (derived RequestIds share it)."""
    oaid: str = ""
    sandbox: int = 0

    @property
    def may_have_reached(self) -> bool:
        """A request with this RequestId may have been accepted (no definitive answer)."""
        return self.status not in FINAL and (
            self.status == SENDING or self.ambiguous_since is not None
        )

    def unanswered_since(self) -> float | None:
        """When the earliest request with an unknown fate went out, if any."""
        if self.status in FINAL:
            return None
        times = [t for t in (self.ambiguous_since,) if t is not None]
        if self.status == SENDING and self.last_sent_at is not None:
            times.append(self.last_sent_at)  # a crash cut this attempt short
        return min(times) if times else None

    def is_stale(self, now: float) -> bool:
        """eSMS no longer blocks a repeat: resending could deliver a second time."""
        since = self.unanswered_since()
        return since is not None and now - since > STALE_AFTER


def is_settled(status: str, ambiguous_since: float | None) -> bool:
    """A message with this status is final, or may have been accepted: its RequestId stays."""
    return status in FINAL or status == SENDING or ambiguous_since is not None


record_of: Callable[[tuple[object, ...]], Record] = functools.partial(tuple.__new__, Record)
"""A Record from a row of exactly `_COLUMNS`: SQLite's own tuple, taken as it is.

Nothing checks the row's length or fills in defaults (a test holds `_COLUMNS`
to the Record's fields): only rows selected with `_COLUMNS` come here.

A partial, not a function: a rerun makes one for every row of a big journal,
and this is no Python call at all.
"""


_COLUMNS = (
    "request_id, line, status, code, smsid, message, attempts, last_sent_at, ambiguous_since, "
    "row_key, user_id, content_id, oaid, sandbox"
)
