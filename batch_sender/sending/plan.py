"""The plan: what a send sets out to do, row by row against the journal of earlier runs."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.disposition import DONE, HOLD, KEPT, REPEAT, Disposition, Rules, decide
from batch_sender.check.inputs import input_notes
from batch_sender.check.request_ids import Campaign, send_scope
from batch_sender.check.rules import DUPLICATE, EXCLUDED, INVALID, VALID, Checks
from batch_sender.errors import UsageError
from batch_sender.esms import protocol as esms
from batch_sender.i18n import _, ngettext, warning
from batch_sender.journal.records import ACCEPTED, Outcome
from batch_sender.journal.store import Journal, settled
from batch_sender.sending.config import SendConfig
from batch_sender.sheet.reader import Table


@dataclass(frozen=True)
class SendJob:
    table: Table
    output: Path
    campaign: Campaign
    config: SendConfig
    excel: bool = False
    resend_stale: bool = False
    resend_changed: bool = False
    """Send the new version of rows sent earlier with different content."""
    checks: Checks = field(default_factory=Checks)
    limit: int | None = None
    """Send at most this many rows in this run (a test batch); the rest stay unsent."""
    on_row: Callable[[esms.Message, Outcome], None] | None = None
    """Called with each row's outcome as it is recorded (e.g. a JSON log line)."""
    on_progress: Callable[[int, int], None] | None = None
    """Called with (rows done, rows to send) when sending starts and after each row.

    The sheet is read as it is sent: rows to send counts those read so far
    (within --limit), and is the whole sheet's once it has been read."""
    on_skipped_row: Callable[[int, str, str, str], None] | None = None
    """(row, status, RequestId, ErrorMessage) of each row not sent, as it is written."""


@dataclass(frozen=True)
class Changes:
    """The sheet against the campaign's earlier sends, before anything is sent."""

    kept: int = 0
    """Rows sent earlier with other content, whose earlier send stands."""
    rows: int = 0
    """Rows the campaign sends or has sent: valid ones, and those kept."""

    @property
    def mostly(self) -> bool:
        """More than half of them changed: the sheet is not this campaign's any more."""
        return self.kept * 2 > self.rows

    def __add__(self, other: Changes) -> Changes:
        return Changes(self.kept + other.kept, self.rows + other.rows)


def changes_in(statuses: list[str], dispositions: list[Disposition]) -> Changes:
    """Rows kept from an earlier send with other content, of the rows the campaign sends."""
    kept = rows = 0
    for status, disposition in zip(statuses, dispositions, strict=True):
        if disposition.action == KEPT:
            kept += 1
            rows += 1
        elif status == VALID:
            rows += 1
    return Changes(kept, rows)


@dataclass
class Plan:
    """The input's rows against the journal of earlier runs, counted as they are read."""

    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0
    excluded: int = 0
    done_before: int = 0
    to_send: int = 0
    stale: int = 0
    changed_kept: int = 0
    """Rows sent earlier with other content whose earlier send stands."""
    changed_resent: int = 0
    """Rows sent earlier with other content whose new version goes out (--resend-changed)."""
    shown_sends: int = 0
    """Sheet rows with an earlier accepted send that this input still has."""
    sent_rows: int = 0
    """Sheet rows with an accepted send in the journal (this OAID, sandbox or real)."""
    sandbox_rows: int = 0
    """Rows that went out in sandbox trials earlier (a real run: they do not count)."""
    resumed: bool = False
    earlier_rows: bool = True
    """The journal had sends identified by row before this run (see disposition.Rules)."""
    changes: Changes = Changes()
    """The rows read so far against the campaign's earlier sends."""

    @property
    def gone(self) -> int:
        """Rows sent earlier that are no longer in the sheet (their sends stay in the journal)."""
        return max(self.sent_rows - self.shown_sends, 0)


def job_rules(job: SendJob, plan: Plan | None = None) -> Rules:
    options = job.config.options
    return Rules(
        campaign=job.campaign,
        oaid=job.config.scope_oaid,
        sandbox=options.sandbox,
        resend_stale=job.resend_stale,
        resend_changed=job.resend_changed,
        allow_repeats=job.checks.allow_repeats,
        earlier_rows=plan is None or plan.earlier_rows,
        in_sheet=_SheetContent(job),
    )


class _SheetContent:
    """Is a content RequestId on any row of the sheet? Read whole at the first question.

    Asked only when a row's earlier send has other content (an edit, or a row
    added before that send's own row): most runs never read the sheet twice.
    Both the reading and the results thread may ask, hence the lock.
    """

    def __init__(self, job: SendJob) -> None:
        self.job = job
        self.ids: frozenset[str] | None = None
        self.lock = threading.Lock()

    def __call__(self, content_id: str) -> bool:
        with self.lock:
            if self.ids is None:
                job = self.job
                self.ids = frozenset(
                    request_id
                    for _, checked in checked_chunks(job.table, job.campaign, job.checks)
                    for request_id in checked["RequestId"].tolist()
                    if request_id
                )
            return content_id in self.ids


def new_plan(job: SendJob, journal: Journal) -> Plan:
    """The counts the journal gives before any row is read."""
    # A journal the receiver made before the first send holds no send yet.
    plan = Plan(resumed=journal.resumed and journal.count() > 0)
    plan.earlier_rows = journal.rows.has_any(job.config.scope_oaid, job.config.options.sandbox)
    rules = job_rules(job, plan)
    plan.sent_rows = journal.rows.sent_count(rules.oaid, rules.sandbox)
    if not rules.sandbox:
        plan.sandbox_rows = journal.rows.sent_count(rules.oaid, True)
    return plan


def count_chunk(plan: Plan, checked: pd.DataFrame, dispositions: list[Disposition]) -> None:
    """Add one chunk's rows to the plan's counts."""
    counts = checked["status"].value_counts()
    statuses = checked["status"].tolist()
    plan.changes += changes_in(statuses, dispositions)
    plan.rows += len(checked)
    plan.valid += int(counts.get(VALID, 0))
    plan.invalid += int(counts.get(INVALID, 0))
    plan.excluded += int(counts.get(EXCLUDED, 0))
    for status, disposition in zip(statuses, dispositions, strict=True):
        sent = disposition.earlier or disposition.record
        if (
            sent is not None
            and sent.row_key
            and sent.status == ACCEPTED
            and (disposition.action in (DONE, KEPT) or disposition.changed)
        ):
            plan.shown_sends += 1  # this row of the sheet is still there
        if status == DUPLICATE:
            # A follower's other row that an earlier run sent is reported with that send.
            if disposition.action == DONE:
                plan.done_before += 1
            else:
                plan.duplicate += 1
        if status != VALID:
            continue
        if disposition.action == REPEAT:
            plan.duplicate += 1
        elif disposition.action == DONE:
            plan.done_before += 1
        elif disposition.action == HOLD:
            plan.stale += 1
        elif disposition.action == KEPT:
            plan.changed_kept += 1
            # Its earlier send stands: the result file shows it accepted, done earlier.
            plan.done_before += disposition.record is not None and (
                disposition.record.status == ACCEPTED
            )
        else:
            plan.to_send += 1
            plan.changed_resent += disposition.changed


def describe_plan(job: SendJob, plan: Plan) -> list[str]:
    campaign = job.campaign
    lines = []
    if plan.resumed:
        line = _(
            "resuming campaign {campaign}: {done:,} done earlier, {to_send:,} to send",
            campaign=repr(campaign.id),
            done=plan.done_before,
            to_send=plan.to_send,
        ) + _now(job, plan)
        if plan.stale:
            line += _(", {n:,} held back (no answer for over 24 hours)", n=plan.stale)
        lines.append(line)
    else:
        lines.append(
            _("campaign {campaign}: {n:,} to send", campaign=repr(campaign.id), n=plan.to_send)
            + _now(job, plan)
        )
    if plan.sandbox_rows:
        lines.append(
            _(
                "{rows} went out in sandbox trials earlier: not delivered, "
                "they do not count as sent",
                rows=_rows(plan.sandbox_rows),
            )
        )
    if plan.changed_kept:
        lines.append(
            warning(
                _(
                    "{rows} sent earlier with different content: "
                    "the earlier send stands (--resend-changed sends the new version)",
                    rows=_rows(plan.changed_kept),
                )
            )
        )
    if plan.changed_resent:
        lines.append(
            _(
                "{rows} sent earlier with different content: sending the "
                "new version (--resend-changed)",
                rows=_rows(plan.changed_resent),
            )
        )
    if plan.gone:
        lines.append(
            warning(
                _(
                    "{rows} sent earlier no longer in the sheet: the sends stay "
                    "in the journal (`batch-sender report {output}` lists them)",
                    rows=_rows(plan.gone),
                    output=job.output,
                )
            )
        )
    skipped = plan.invalid + plan.duplicate
    if skipped:
        lines.append(
            _(
                "{invalid:,} invalid and {duplicate:,} duplicate rows are not sent "
                "(run `batch-sender validate` for details)",
                invalid=plan.invalid,
                duplicate=plan.duplicate,
            )
        )
    listed = plan.excluded - len(job.checks.hidden_skipped)
    if listed:
        lines.append(
            ngettext(
                "{n:,} row is excluded by the suppression lists",
                "{n:,} rows are excluded by the suppression lists",
                listed,
            )
        )
    lines.extend(input_notes(job.checks))
    return lines


def _now(job: SendJob, plan: Plan) -> str:
    """What --limit lets this run send of the rows still to send."""
    if job.limit is None or job.limit >= plan.to_send:
        return ""
    return _(", {n:,} of them now (--limit {limit})", n=job.limit, limit=job.limit)


def _rows(n: int) -> str:
    return ngettext("{n:,} row", "{n:,} rows", n)


def for_journal(job: SendJob, journal: Journal) -> SendJob:
    """The job with RequestIds as this campaign's journal derives them."""
    options = job.config.options
    campaign = dataclasses.replace(
        job.campaign,
        scope=send_scope(job.config.scope_oaid, options.sandbox),
        scheme=journal.rows.request_id_scheme(),
    )
    return dataclasses.replace(job, campaign=campaign)


def sheet_changes(job: SendJob, journal: Journal, rules: Rules) -> Changes:
    """Read the whole sheet to see how much of it changed since the campaign sent.

    Only a rerun of a campaign that sent (and not with --resend-changed)
    needs to know: a recurring file rewritten with new texts would otherwise
    "accept" every row and send nothing, and that must be known before the
    first request, not after the last. The send counts as it reads (Plan.changes);
    this reading is for a row due to go out before the sheet's end is read.
    """
    changes = Changes()
    for _chunk, checked in checked_chunks(job.table, job.campaign, job.checks):
        if _all_settled(checked, journal):
            # Every row valid and its try final or maybe out: none can be one kept
            # from earlier (decide keeps only rows with no current try), so no need
            # to decide them.
            changes += Changes(0, len(checked))
            continue
        dispositions = decide(checked, journal, rules, time.time())
        changes += changes_in(checked["status"].tolist(), dispositions)
    return changes


def _all_settled(checked: pd.DataFrame, journal: Journal) -> bool:
    """Every row of the chunk is valid, and its RequestId's message final or maybe out."""
    if not len(checked) or any(status != VALID for status in checked["status"].tolist()):
        return False
    base_ids = checked["RequestId"].tolist()
    lines = (int(checked.index.min()), int(checked.index.max()))
    found = settled(journal, base_ids, lines)
    return all(base in found for base in base_ids)


def refuse_new_campaign(job: SendJob, changes: Changes) -> UsageError:
    return UsageError(
        _(
            "{path}: {kept:,} of its {rows:,} rows were sent earlier in campaign {campaign} "
            "with other content: this looks like a new campaign, and nothing was sent; start "
            "it with another {opt:output} (and {opt:campaign_id}), or pass "
            "{opt:resend_changed} to send the new texts to the same followers as part of "
            "this campaign",
            path=job.table.source.display,
            kept=changes.kept,
            rows=changes.rows,
            campaign=repr(job.campaign.id),
        )
    )
