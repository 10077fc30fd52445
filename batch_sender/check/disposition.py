"""Row disposition: what a run does with each row, given the journal of earlier runs.

One function decides it, so that the plan, the send and the result file agree:

* a row's content (campaign, OAID, sandbox or real, user_id, text, url) gives
  its RequestId; a RequestId that got only definitive refusals (103, 160,
  a refused connection...) is never sent again: the next try goes out under a
  derived one (`Campaign.derived_id`), so an answer 124 always means our own
  earlier request;
* a row is identified across edits of the sheet by its user_id and which of
  that user's rows it is (`row_key`): a row sent earlier whose content changed
  keeps its earlier send unless `--resend-changed`;
* a follower's later rows are duplicates (unless repeats are allowed), never
  sent; one that an earlier run did send is reported with that send;
* a row new to the journal whose follower an earlier run already sent another
  row to is a duplicate too (REPEAT): a row added to the sheet above the one
  sent, or an edited copy beside the original, never messages anyone twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import DUPLICATE, VALID
from batch_sender.journal.records import ACCEPTED, FINAL, Record
from batch_sender.journal.store import Journal

SEND = "send"
"""Send it now under `request_id` (`record`: its last earlier try, if any)."""
DONE = "done"
"""Its outcome is final (`record`): accepted or rejected."""
HOLD = "hold"
"""An earlier request got no answer over 24 hours ago: not sent again (--resend-stale)."""
KEPT = "kept"
"""Sent earlier with different content (`record`): that send stands (--resend-changed)."""
REPEAT = "repeat"
"""New, but its follower got another row's message earlier in the campaign (`record`): not
sent, reported as a duplicate (one message per follower per campaign)."""
SKIP = "skip"
"""Not valid, and nothing sent for it earlier: reported as validation found it."""

MAX_GENERATIONS = 100
"""Derived RequestIds tried at most per row (each needs a definitive refusal first)."""


class Disposition(NamedTuple):
    """What a run does with one row (a tuple: a rerun makes one per row of the sheet)."""

    action: str
    request_id: str = ""
    record: Record | None = None
    earlier: Record | None = None
    """The row's send with other content (KEPT, or SEND with --resend-changed)."""

    @property
    def changed(self) -> bool:
        return self.earlier is not None


@dataclass(frozen=True)
class Rules:
    campaign: Campaign
    oaid: str
    sandbox: bool
    resend_stale: bool = False
    resend_changed: bool = False
    allow_repeats: bool = False
    """A follower may get several distinct messages (--allow-repeats)."""
    earlier_rows: bool = True
    """The journal had sends identified by row when the run began (else none can be edited)."""
    in_sheet: Callable[[str], bool] | None = None
    """Whether a content RequestId is on any row of the whole sheet, not only this chunk."""


_SKIP = Disposition(SKIP)


def decide(checked: pd.DataFrame, journal: Journal, rules: Rules, now: float) -> list[Disposition]:
    """Each row's disposition, in the chunk's order."""
    statuses = checked["status"].tolist()
    base_ids = checked["RequestId"].tolist()
    row_keys = checked["row_key"].tolist() if "row_key" in checked else [""] * len(statuses)
    lines = (int(checked.index.min()), int(checked.index.max())) if len(checked) else None
    latest = _latest_tries(base_ids, journal, rules.campaign, lines)
    if (done := _all_done(statuses, base_ids, latest)) is not None:
        return done
    looked_up = [
        key
        for key, status, base in zip(row_keys, statuses, base_ids, strict=True)
        if key and status != DUPLICATE and latest[base][1] is None
    ]
    earlier = (
        journal.rows.sends(looked_up, rules.oaid, rules.sandbox)
        if looked_up and rules.earlier_rows
        else {}
    )
    # A send that another row of the sheet still has, unchanged, is that row's: a row
    # added before it for the same user_id (now its k-th row) is new, not an edit.
    matched = (
        {record.request_id for _, record, _ in latest.values() if record is not None}
        if earlier
        else set()
    )

    def edited(sent: Record) -> bool:
        """Whether this row's earlier send is an edit of it, not another row's own send.

        A row added before the one sent for the same user_id takes over its
        row_key; the sent row may be in a later chunk, so the whole sheet decides.
        """
        if sent.request_id in matched:
            return False
        return rules.in_sheet is None or not rules.in_sheet(sent.content_id)

    out: list[Disposition] = []
    new: list[int] = []
    """Rows going out for the first time, with no earlier send of their own."""
    for status, base, key in zip(statuses, base_ids, row_keys, strict=True):
        request_id, record, previous = latest[base]
        if status == DUPLICATE:
            # A follower's other message that an earlier run sent (before repeats
            # were refused): that send stands and is reported, never sent again.
            final = record is not None and record.status in FINAL
            out.append(Disposition(DONE, request_id, record) if final else _SKIP)
            continue
        if status != VALID:
            # Invalid or excluded by today's checks, but an earlier run sent it.
            sent = earlier.get(key)
            if record is not None and record.status in FINAL:
                out.append(Disposition(DONE, record.request_id, record))
            elif (
                sent is not None
                and sent.status == ACCEPTED
                and sent.content_id != base
                and edited(sent)
            ):
                out.append(Disposition(KEPT, sent.request_id, sent, earlier=sent))
            else:
                out.append(_SKIP)
        elif not base:
            out.append(_SKIP)
        elif record is not None:  # final, or may have reached eSMS: the same RequestId again
            out.append(_own(record, rules, now))
        else:
            sent = earlier.get(key)
            if sent is not None and sent.content_id != base and edited(sent):
                if rules.resend_changed:
                    out.append(Disposition(SEND, request_id, previous, earlier=sent))
                else:
                    out.append(Disposition(KEPT, sent.request_id, sent, earlier=sent))
            else:
                new.append(len(out))
                out.append(Disposition(SEND, request_id, previous))
    if new and rules.earlier_rows and not rules.allow_repeats:
        users = checked["user_id"].tolist()
        sent_to = journal.rows.followers_sent((users[i] for i in new), rules.oaid, rules.sandbox)
        for i in new:
            if (other := sent_to.get(users[i])) is None:
                continue
            if other.content_id == base_ids[i]:
                # The row's own send, under a RequestId its chain did not reach (a journal
                # that lost the refusals before it): never a duplicate of itself.
                out[i] = _own(other, rules, now)
            else:
                out[i] = Disposition(REPEAT, "", other)
    return out


def _all_done(
    statuses: list[str],
    base_ids: list[str],
    latest: dict[str, tuple[str, Record | None, Record | None]],
) -> list[Disposition] | None:
    """Each row DONE if every row is valid and final under its RequestId: else None.

    What the rows of a finished campaign's rerun come to through `decide`'s
    loop (each `_own`), in one pass: a rerun decides every row of the sheet.
    """
    if any(status != VALID for status in statuses):
        return None
    records = [latest[base][1] for base in base_ids]
    if not all(record is not None and record.status in FINAL for record in records):
        return None
    # Every record is there (checked above); the test is for the type checker.
    return [Disposition(DONE, r.request_id, r) for r in records if r is not None]


def _own(record: Record, rules: Rules, now: float) -> Disposition:
    """A row's send that accepted it or may have: final, or the same RequestId again."""
    if record.status in FINAL:
        return Disposition(DONE, record.request_id, record)
    stale = not rules.resend_stale and record.is_stale(now)
    return Disposition(HOLD if stale else SEND, record.request_id, record)


def _latest_tries(
    base_ids: list[str],
    journal: Journal,
    campaign: Campaign,
    lines: tuple[int, int] | None = None,
) -> dict[str, tuple[str, Record | None, Record | None]]:
    """Content RequestId -> (RequestId of its current try, that try's record, the one before).

    The current try is the first in the chain of derived RequestIds that is
    new, accepted, rejected, or may have reached eSMS; every one before it got
    only definitive refusals. lines: the sheet lines the rows are on (read as
    one range).
    """
    found: dict[str, tuple[str, Record | None, Record | None]] = {}
    pending = {b: b for b in base_ids if b}
    previous: dict[str, Record] = {}
    for generation in range(MAX_GENERATIONS):
        if not pending:
            break
        records = journal.lookup(pending.values(), lines)
        following: dict[str, str] = {}
        for base, request_id in pending.items():
            record = records.get(request_id)
            if record is None or record.status in FINAL or record.may_have_reached:
                found[base] = (request_id, record, previous.get(base))
            else:
                previous[base] = record
                following[base] = campaign.derived_id(base, generation + 1)
        pending = following
    for base, request_id in pending.items():
        found[base] = (request_id, None, previous.get(base))
    found[""] = ("", None, None)
    return found
