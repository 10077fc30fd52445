"""`report`: the campaign at a glance for the marketer, as text or one self-contained HTML page.

What it tells: which campaign, when it went out, how many messages eSMS
accepted and how many Zalo then delivered or failed (with percentages),
why they failed in plain words (Zalo's code kept beside), what it cost
(the sum of eSMS's TotalPrice in the delivery reports), and which
followers to leave out next time (`--failed-ids`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from pathlib import Path

import pandas as pd

from batch_sender.delivery.figures import (
    SHOWN_ROWS,
    CampaignFigures,
)
from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import FAILED
from batch_sender.i18n import _, ngettext
from batch_sender.journal.files import journal_path
from batch_sender.journal.store import Journal
from batch_sender.options import Reading
from batch_sender.results.result_file import read_result_file, result_header
from batch_sender.results.rows import RESULT_COLUMNS, readable
from batch_sender.results.tally import FINE as FINE_STATUSES

FIRST_ROWS = 100
"""Rows read ahead, all columns, to find which one holds the user_ids."""


def gather_figures(
    results: Path, user_id_column: str | None = None, *, need_ids: bool = False
) -> CampaignFigures:
    """Read the result file and its journal; need_ids: every failed follower's id must be found.

    The journal is read in one snapshot: a receiver writing meanwhile cannot
    make the counts and the cost disagree. Deliveries come from it (the
    result file's columns are rewritten only now and then); the user_id
    column is the one given, else the one the journal's sends show the ids
    in (a campaign sent with --user-id-column), else `user_id`.
    """
    header = result_header(results)
    journal_file = journal_path(results)
    journal = None
    reader = None
    try:
        if journal_file.exists():
            # An archive may be read-only. Checked beside the reading: told before any output.
            journal = Journal(journal_file, read_only=True, check_beside=True)
        base = len(header) - len(RESULT_COLUMNS)
        at = {name: base + i for i, name in enumerate(RESULT_COLUMNS)}
        inputs = header[:base]
        uid_at = None
        if user_id_column is not None:
            uid_at = _user_id_position(results, inputs, user_id_column)
        if user_id_column is not None and uid_at is None and need_ids:
            raise UsageError(
                _(
                    "{results}: no {user_id_column} column for --failed-ids "
                    "(input columns: {names})",
                    results=results,
                    user_id_column=repr(user_id_column),
                    names=", ".join(repr(h) for h in inputs) or _("none"),
                )
            )
        report = CampaignFigures(results.name)
        with journal.snapshot() if journal is not None else contextlib.nullcontext():
            reading = _Reading(report, at, uid_at, journal, inputs, results, user_id_column)
            reader = read_result_file(results, reading.columns())[1]
            for chunk in reader:
                reading.add(chunk)
            if journal is not None:
                _add_journal(report, journal, reading.row_keys)
    except Exception:
        # Damaged pages may read as values of the wrong type, not only as SQLite's
        # errors: a damaged file is said as such, not as a failed query or a bug.
        _checked(journal)
        raise
    finally:
        if reader is not None:
            reader.close()  # its file, whatever stops the report here
        if journal is not None:
            journal.close()
    _checked(journal)
    if need_ids and report.failed_without_id:
        names = ", ".join(repr(h) for h in inputs) or _("none")
        raise UsageError(
            ngettext(
                "{results}: {n:,} failed row has no user_id in the journal or a user_id "
                "column; pass --user-id-column (input columns: {names})",
                "{results}: {n:,} failed rows have no user_id in the journal or a user_id "
                "column; pass --user-id-column (input columns: {names})",
                report.failed_without_id,
                results=results,
                names=names,
            )
        )
    return report


class _Reading:
    """The result file's rows, chunk by chunk, against the journal's snapshot."""

    def __init__(
        self,
        report: CampaignFigures,
        at: dict[str, int],
        uid_at: int | None,
        journal: Journal | None,
        inputs: list[str],
        results: Path,
        wanted: str | None,
    ) -> None:
        self.report, self.at, self.uid_at, self.journal = report, at, uid_at, journal
        self.inputs, self.results, self.wanted = inputs, results, wanted
        self.failed_seen: set[str] = set()
        self.row_keys: set[str] = set()
        """The rows the file's RequestIds were sent for: other sends left the sheet."""

    def columns(self) -> list[int] | None:
        """The positions to read: ours and the user_id column's; None: all of them.

        The user_id column is found from the file's first rows when it was not
        given; while it is not known, the whole first chunk is read for it.
        """
        if self.uid_at is None and self.wanted != "":
            reader = read_result_file(self.results, rows=FIRST_ROWS)[1]
            with reader:
                first = next(iter(reader), None)
            if first is None or first.empty:
                return None  # no rows: nothing to read, the column is never needed
            self._find_id_column(first, self._senders(first), whole=len(first) < FIRST_ROWS)
            if self.wanted != "":
                return None
        return [*self.at.values(), *([] if self.uid_at is None else [self.uid_at])]

    def _senders(self, chunk: pd.DataFrame) -> dict[str, tuple[str, str]]:
        """RequestId -> (user_id, row_key) of the chunk's sends the journal knows."""
        if self.journal is None:
            return {}
        numbers = [int(n) for n in chunk[self.at["row"]].tolist() if str(n).isdigit()]
        span = (min(numbers), max(numbers)) if numbers else None
        return self.journal.rows.senders(chunk[self.at["RequestId"]].tolist(), span)

    def _find_id_column(
        self, chunk: pd.DataFrame, senders: dict[str, tuple[str, str]], *, whole: bool = True
    ) -> None:
        """The input column holding the ids the journal's sends went to, else `user_id`'s.

        whole: the chunk is the file's first; else only its first rows, which
        settle it only if one of them shows the column.
        """
        rids = chunk[self.at["RequestId"]].tolist()
        for i, rid in enumerate(rids):
            user_id = senders.get(rid, ("", ""))[0]
            if not user_id:
                continue
            cells = [str(chunk[c].iloc[i]).strip() for c in range(len(self.inputs))]
            found = [c for c, cell in enumerate(cells) if cell == user_id]
            if len(found) == 1:
                self.uid_at = found[0]
                self.wanted = ""
                return
        if not whole:
            return
        if self.wanted is None:
            self.uid_at = _user_id_position(self.results, self.inputs, Reading.user_id_column)
        self.wanted = ""  # looked once

    def add(self, chunk: pd.DataFrame) -> None:
        report, at = self.report, self.at
        report.rows += len(chunk)
        status = chunk[at["status"]].tolist()
        rids = chunk[at["RequestId"]].tolist()
        code = chunk[at["CodeResult"]].tolist()
        smsid = chunk[at["SMSID"]].tolist()
        lines = chunk[at["row"]].tolist()
        # A result file written for Excel has them made inert ('=...): shown as eSMS sent them.
        message = [readable(m) for m in chunk[at["ErrorMessage"]].tolist()]
        senders: dict[str, tuple[str, str]] = {}
        delivery = chunk[at["delivery"]].tolist()
        error = [readable(e) for e in chunk[at["delivery_error"]].tolist()]
        if self.journal is not None:
            senders = self._senders(chunk)
            self.row_keys.update(key for _, key in senders.values() if key)
            reported = self.journal.deliveries.reported(
                r for r, s in zip(rids, status, strict=True) if s == "accepted"
            )
            for i, rid in enumerate(rids):
                # The journal's snapshot, for every message it knows; the file's
                # columns only for one it does not (a result file adopted or made by hand).
                if rid in senders:
                    delivery[i], error[i], _ = reported.get(rid, ("", "", ""))
        if self.uid_at is None and self.wanted != "":
            self._find_id_column(chunk, senders)
        column = chunk[self.uid_at].tolist() if self.uid_at is not None else [""] * len(chunk)
        report.statuses.update(status)
        report.codes.update(c for c in code if c)
        report.deliveries.update(d for d in delivery if d)
        for i, row_status in enumerate(status):
            sender = senders.get(rids[i])
            uid = (sender[0] if sender is not None else "") or str(column[i]).strip()
            if row_status not in FINE_STATUSES:
                report.attention_total += 1
                if len(report.attention) < SHOWN_ROWS:
                    report.attention.append((int(lines[i]), uid, row_status, message[i]))
            if row_status == "rejected":
                report.rejections[(code[i], message[i])] += 1
            elif row_status != "accepted":
                continue
            elif delivery[i] == FAILED:
                report.zalo_errors[error[i] or ""] += 1
                if not uid:
                    report.failed_without_id += 1
                elif uid not in self.failed_seen:
                    self.failed_seen.add(uid)
                    report.failed_ids.append(uid)
                    if len(report.failed) < SHOWN_ROWS:
                        report.failed.append((int(lines[i]), uid, error[i] or ""))
            elif not delivery[i] and not smsid[i]:
                if code[i] == "124":
                    report.no_smsid_124 += 1
                else:
                    report.no_smsid_100 += 1


def _add_journal(report: CampaignFigures, journal: Journal, row_keys: set[str]) -> None:
    report.campaign_id = journal.meta("campaign_id") or ""
    report.not_in_sheet = journal.rows.sends_not_shown(row_keys)
    report.sends.update(int(t) for t in journal.deliveries.accepted_times())
    for outcome, when, received in journal.deliveries.times():
        if outcome != "pending":
            report.delivered[_second(when, received)] += 1
    for price in journal.deliveries.prices():
        report.cost += decimal.Decimal(price)
        report.priced += 1
    report.priced_unmatched = journal.deliveries.unknown(priced=True)


def _user_id_position(results: Path, inputs: list[str], wanted: str) -> int | None:
    """The user_id column among the result file's input columns (exact name, else any case)."""
    exact = [i for i, name in enumerate(inputs) if name.strip() == wanted]
    folded = [i for i, name in enumerate(inputs) if name.strip().casefold() == wanted.casefold()]
    found = exact or folded
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = " and ".join(repr(inputs[i]) for i in found)
        raise UsageError(
            _(
                "{results}: {names} both match {wanted}; pass --user-id-column",
                results=results,
                names=names,
                wanted=repr(wanted),
            )
        )
    return None


def write_failed_ids(path: Path, report: CampaignFigures) -> None:
    """The failed followers' user_ids, one a line, no header: a suppression list (--exclude)."""
    from batch_sender.results.files import atomic_text_file

    with atomic_text_file(path) as f:
        f.writelines(f"{uid}\n" for uid in report.failed_ids)


def _second(when: str, received: float) -> int:
    try:
        return int(dt.datetime.fromisoformat(when).timestamp())
    except ValueError:
        return int(received)


def _checked(journal: Journal | None) -> None:
    """The verdict of the journal's check, run beside the reading: JournalDamaged if failed."""
    if journal is not None and journal.checking is not None:
        journal.checking.result()
