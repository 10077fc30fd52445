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
import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import DELIVERED, FAILED, VIETNAM
from batch_sender.i18n import N_, _, current, ngettext, number, shown, status_word
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import Record
from batch_sender.journal.store import Journal
from batch_sender.options import Reading
from batch_sender.results.result_file import read_result_file
from batch_sender.results.rows import RESULT_COLUMNS, readable
from batch_sender.results.tally import FINE as FINE_STATUSES
from batch_sender.sending.progress import duration

ZALO_ERRORS = {
    # From eSMS's pages (callback-url.md, GetCallback's sample):
    "-114": N_("the follower's Zalo is inactive, refused the message or is too old"),
    "-124": N_("the OA's Zalo access token is invalid (reconnect the OA in eSMS)"),
    # From Zalo's OA API documentation; not on eSMS's pages:
    "-32": N_("Zalo's rate limit was exceeded"),
    "-201": N_("Zalo found the message's parameters invalid"),
    "-211": N_("the OA has used up its message quota"),
    "-213": N_("the user does not follow the OA"),
    "-216": N_("the OA's Zalo access token is invalid (reconnect the OA in eSMS)"),
    "-230": N_("the user has not interacted with the OA in the last 7 days"),
}
"""Zalo's error codes in plain words; an unknown code shows Zalo's own message."""

ESMS_CODES = {
    "99": N_("the recipient is blocked on eSMS"),
    "110": N_("eSMS found the request data wrong"),
    "124": N_("eSMS had this RequestId already, from another campaign or content"),
    "146": N_("the message does not fit the account's template"),
    "201": N_("the text holds a keyword eSMS blocks"),
    "210": N_("eSMS refused the message's form (payload)"),
    "852": N_("the user_id is too long"),
    "853": N_("the user_id is missing"),
}
"""eSMS's row-level CodeResults in plain words (bang-ma-loi.md); others show eSMS's message."""


@dataclass
class CampaignFigures:
    name: str
    campaign_id: str = ""
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    rejections: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(CodeResult, ErrorMessage) of rejected rows."""
    deliveries: Counter[str] = field(default_factory=Counter)
    zalo_errors: Counter[str] = field(default_factory=Counter)
    """delivery_error of rows whose delivery failed ("-114 User is inactive")."""
    no_smsid_124: int = 0
    """Accepted through 124 with no SMSID and no report: eSMS's reports match by SMSID."""
    no_smsid_100: int = 0
    """Accepted with a 100 that carried no SMSID, and no report."""
    sends: Counter[int] = field(default_factory=Counter)
    """Accepted messages per second (Unix time)."""
    delivered: Counter[int] = field(default_factory=Counter)
    """Final delivery reports per second."""
    cost: decimal.Decimal = decimal.Decimal(0)
    priced: int = 0
    """Delivery reports that carried a TotalPrice."""
    failed_ids: list[str] = field(default_factory=list)
    not_in_sheet: list[Record] = field(default_factory=list)
    """Sends of rows deleted from the sheet since: in the journal, not the file."""
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, user_id, Zalo's error) of the first failed followers (the page lists them)."""
    failed_without_id: int = 0
    """Failed rows whose user_id neither the journal nor the result file holds."""
    attention: list[tuple[int, str, str, str]] = field(default_factory=list)
    """(line, user_id, status, message) of the first rows that need attention."""
    attention_total: int = 0

    @property
    def accepted(self) -> int:
        return self.statuses.get("accepted", 0)

    @property
    def no_report(self) -> int:
        return max(self.accepted - sum(self.deliveries.values()), 0)

    def span(self) -> str:
        if not self.sends:
            return _("no send recorded in the journal")
        first, last = min(self.sends), max(self.sends)
        text = _(
            "sent {start} to {end} ({duration})",
            start=_when(first),
            end=_when(last, first),
            duration=duration(last - first),
        )
        if self.delivered:
            text += _("; last delivery report {when}", when=_when(max(self.delivered), first))
        return text + _(" (Vietnam time)")

    def summary(self) -> list[tuple[str, int, str]]:
        """(what, how many, share) lines: the campaign's outcome in three numbers and a half."""
        accepted = self.accepted
        lines = [(_("accepted by eSMS"), accepted, _share(accepted, self.rows, OF_ROWS))]
        if accepted:
            for key, label in ((DELIVERED, _("delivered")), (FAILED, _("delivery failed"))):
                n = self.deliveries.get(key, 0)
                lines.append((label, n, _share(n, accepted, OF_ACCEPTED)))
            pending = self.deliveries.get("pending", 0)
            if pending:
                lines.append(
                    (_("still on its way"), pending, _share(pending, accepted, OF_ACCEPTED))
                )
            if self.no_report:
                lines.append(
                    (
                        _("no report yet"),
                        self.no_report,
                        _share(self.no_report, accepted, OF_ACCEPTED),
                    )
                )
        not_sent = self.rows - accepted
        if not_sent:
            shown = ", ".join(
                f"{status_word(k)} {number(n)}"
                for k, n in self._ordered(self.statuses)
                if k != "accepted"
            )
            lines.append((_("not accepted"), not_sent, shown))
        return lines

    def failure_reasons(self) -> list[tuple[int, str, str, str]]:
        """(how many, plain words, Zalo's code, Zalo's own words) of failed deliveries."""
        return [
            (n, plain_zalo_error(error), f"Zalo {error.partition(' ')[0]}".strip(), error)
            for error, n in self._ordered(self.zalo_errors)
        ]

    def rejection_reasons(self) -> list[tuple[int, str, str, str]]:
        return [
            (
                n,
                _plain(ESMS_CODES.get(code)) or message or _("eSMS refused it"),
                f"eSMS {code}",
                message,
            )
            for (code, message), n in sorted(
                self.rejections.items(), key=lambda kv: (-kv[1], kv[0])
            )
        ]

    def cost_line(self) -> str:
        if not self.priced:
            return _("cost: unknown (no delivery report with a TotalPrice yet)")
        return ngettext(
            "cost: {cost} (TotalPrice summed over {n:,} delivery report)",
            "cost: {cost} (TotalPrice summed over {n:,} delivery reports)",
            self.priced,
            cost=_money(self.cost),
        )

    def notes(self) -> list[str]:
        notes = []
        if self.no_smsid_124:
            notes.append(
                ngettext(
                    "{n:,} accepted row has no delivery status because eSMS accepted it "
                    "through 124 (an earlier attempt got through) and gave no SMSID, "
                    "which its reports are matched by",
                    "{n:,} accepted rows have no delivery status because eSMS accepted them "
                    "through 124 (an earlier attempt got through) and gave no SMSID, "
                    "which its reports are matched by",
                    self.no_smsid_124,
                )
            )
        if self.no_smsid_100:
            notes.append(
                ngettext(
                    "{n:,} accepted row has no delivery status because eSMS's answer "
                    "(100) carried no SMSID, which its reports are matched by",
                    "{n:,} accepted rows have no delivery status because eSMS's answer "
                    "(100) carried no SMSID, which its reports are matched by",
                    self.no_smsid_100,
                )
            )
        return notes

    def text(self) -> list[str]:
        title = (
            _("campaign {campaign}", campaign=self.campaign_id)
            if self.campaign_id
            else _("campaign")
        )
        lines = [_("{title} ({name}): {n:,} rows", title=title, name=self.name, n=self.rows)]
        lines.append(self.span())
        width = max((len(label) for label, _, _ in self.summary()), default=0)
        for label, n, share in self.summary():
            lines.append(f"  {label:<{width}}  {number(n, '>7,')}  {share}".rstrip())
        for title, reasons in (
            (_("why delivery failed"), self.failure_reasons()),
            (_("why eSMS refused rows"), self.rejection_reasons()),
        ):
            if reasons:
                lines.append(f"{title}:")
                lines.extend(
                    f"  {number(n, '>7,')}  {words} ({code})" for n, words, code, _own in reasons
                )
        lines.append(self.cost_line())
        lines.extend(_("note: {note}", note=note) for note in self.notes())
        lines.extend(not_in_sheet_lines(self.not_in_sheet))
        return lines

    @staticmethod
    def _ordered(counter: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


OF_ROWS = N_("{share:.1f}% of the rows")
OF_ACCEPTED = N_("{share:.1f}% of accepted")


def _plain(words: str | None) -> str | None:
    return _(words) if words else words


def plain_zalo_error(error: str) -> str:
    code, _space, message = error.partition(" ")
    return _plain(ZALO_ERRORS.get(code)) or message or _("Zalo gave no reason")


def _share(n: int, of: int, what: str) -> str:
    if not of:
        return ""
    return _(what, share=100 * n / of)


def _money(value: decimal.Decimal) -> str:
    whole = value.quantize(decimal.Decimal(1)) if value == value.to_integral() else value
    return _("{amount} VND", amount=shown(whole, ","))


def _when(second: int, first: int | None = None) -> str:
    moment = dt.datetime.fromtimestamp(second, VIETNAM)
    if first is not None and moment.date() == dt.datetime.fromtimestamp(first, VIETNAM).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%d/%m/%Y %H:%M:%S")


SHOWN_ROWS = 500
"""Failed followers and rows needing attention the HTML page lists, each; the rest counted."""


def build_report(
    results: Path, user_id_column: str | None = None, *, need_ids: bool = False
) -> CampaignFigures:
    """Read the result file and its journal; need_ids: every failed follower's id must be found.

    The journal is read in one snapshot: a receiver writing meanwhile cannot
    make the counts and the cost disagree. Deliveries come from it (the
    result file's columns are rewritten only now and then); the user_id
    column is the one given, else the one the journal's sends show the ids
    in (a campaign sent with --user-id-column), else `user_id`.
    """
    header, reader = read_result_file(results)
    journal_file = journal_path(results)
    journal = None
    try:
        if journal_file.exists():
            journal = Journal(journal_file, read_only=True)  # an archive may be read-only
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
            for chunk in reader:
                reading.add(chunk)
            if journal is not None:
                _add_journal(report, results, journal)
    finally:
        reader.close()  # its file, whatever stops the report here
        if journal is not None:
            journal.close()
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

    def _find_id_column(self, chunk: pd.DataFrame, records: dict[str, Record]) -> None:
        """The input column holding the ids the journal's sends went to, else `user_id`'s."""
        rids = chunk[self.at["RequestId"]].tolist()
        for i, rid in enumerate(rids):
            record = records.get(rid)
            if record is None or not record.user_id:
                continue
            cells = [str(chunk[c].iloc[i]).strip() for c in range(len(self.inputs))]
            found = [c for c, cell in enumerate(cells) if cell == record.user_id]
            if len(found) == 1:
                self.uid_at = found[0]
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
        records: dict[str, Record] = {}
        delivery = chunk[at["delivery"]].tolist()
        error = [readable(e) for e in chunk[at["delivery_error"]].tolist()]
        if self.journal is not None:
            records = self.journal.lookup(rids)
            reported = self.journal.deliveries(
                r for r, s in zip(rids, status, strict=True) if s == "accepted"
            )
            for i, rid in enumerate(rids):
                # The journal's snapshot, for every message it knows; the file's
                # columns only for one it does not (a result file adopted or made by hand).
                if rid in records:
                    delivery[i], error[i], _ = reported.get(rid, ("", "", ""))
        if self.uid_at is None and self.wanted != "":
            self._find_id_column(chunk, records)
        column = chunk[self.uid_at].tolist() if self.uid_at is not None else [""] * len(chunk)
        report.statuses.update(status)
        report.codes.update(c for c in code if c)
        report.deliveries.update(d for d in delivery if d)
        for i, row_status in enumerate(status):
            record = records.get(rids[i])
            uid = (record.user_id if record is not None else "") or str(column[i]).strip()
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


def _add_journal(report: CampaignFigures, results: Path, journal: Journal) -> None:
    report.campaign_id = journal.meta("campaign_id") or ""
    report.not_in_sheet = sends_not_in_results(results, journal)
    report.sends.update(int(t) for t in journal.accepted_times())
    for outcome, when, received in journal.delivery_times():
        if outcome != "pending":
            report.delivered[_second(when, received)] += 1
    for price in journal.prices():
        report.cost += decimal.Decimal(price)
        report.priced += 1


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


# --- sends of rows deleted from the sheet ---------------------------------------


def sends_not_in_results(results: Path, journal: Journal) -> list[Record]:
    """Accepted sends the result file no longer shows: their rows left the sheet."""
    header, reader = read_result_file(results)
    at = len(header) - len(RESULT_COLUMNS) + RESULT_COLUMNS.index("RequestId")
    with reader:
        return journal.sends_not_shown(rid for chunk in reader for rid in chunk[at].tolist())


def not_in_sheet_lines(sends: list[Record]) -> list[str]:
    if not sends:
        return []
    lines = [_("sent earlier, no longer in the sheet: {n:,}", n=len(sends))]
    for record in sends:
        smsid = record.smsid or _("unknown (accepted as 124)")
        lines.append(
            _(
                "  line {line} as sent: user_id {user_id}, SMSID {smsid}",
                line=record.line,
                user_id=record.user_id,
                smsid=smsid,
            )
        )
    return lines


def _second(when: str, received: float) -> int:
    try:
        return int(dt.datetime.fromisoformat(when).timestamp())
    except ValueError:
        return int(received)


BUCKETS = (1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)


def _bucket(span: int) -> int:
    """The smallest bucket (seconds) that draws the span in at most 60 bars."""
    return next((b for b in BUCKETS if span / b <= 60), BUCKETS[-1])


def _per(seconds: int) -> str:
    return _("{s} s", s=seconds) if seconds < 60 else _("{m} min", m=seconds // 60)


def html_report(report: CampaignFigures) -> str:
    """One page, no external assets, as wide as the window: the numbers, the reasons, the
    cost, a chart over time, the failed followers and the rows that need attention."""
    e = html.escape
    title = (
        _("Campaign {campaign}", campaign=report.campaign_id)
        if report.campaign_id
        else _("Campaign")
    )
    summary = "".join(
        f"<tr><td>{e(label)}</td><td class=n>{number(n)}</td><td>{e(share)}</td></tr>"
        for label, n, share in report.summary()
    )
    glance = _("At a glance")
    cards = [
        f"<section><h2>{e(glance)}</h2><table class=summary>{summary}</table>"
        f"{_rate_bar(report)}<p class=cost>{e(report.cost_line())}</p>"
        + "".join(f"<p class=note>{e(note)}</p>" for note in report.notes())
        + "</section>"
    ]
    for heading, reasons in (
        (_("Why delivery failed"), report.failure_reasons()),
        (_("Why eSMS refused rows"), report.rejection_reasons()),
    ):
        if reasons:
            body = "".join(
                f"<tr><td class=n>{number(n)}</td><td>{e(words)}</td>"
                f"<td class=code title='{e(own)}'>{e(code)}</td></tr>"
                for n, words, code, own in reasons
            )
            cards.append(f"<section><h2>{e(heading)}</h2><table>{body}</table></section>")
    over_time = _("Sends and deliveries over time (Vietnam time)")
    th_line, why, zalo_code, th_status = (
        e(_("line")),
        e(_("why")),
        e(_("Zalo code")),
        e(_("status")),
    )
    sections = [
        f"<div class=cards>{''.join(cards)}</div>",
        f"<section class=wide><h2>{e(over_time)}</h2>{_chart(report)}</section>",
    ]
    if report.failed_ids:
        rows = "".join(
            f"<tr><td class=n>{n}</td><td class=id>{e(uid)}</td>"
            f"<td>{e(plain_zalo_error(error))}</td>"
            f"<td class=code>{e(error.partition(' ')[0] or '')}</td></tr>"
            for n, uid, error in report.failed
        )
        sections.append(
            _listing(
                _("Followers whose delivery failed ({n:,})", n=len(report.failed_ids)),
                f"<th>{th_line}</th><th>user_id</th><th>{why}</th><th>{zalo_code}</th>",
                rows,
                len(report.failed_ids) - len(report.failed),
                _("--failed-ids writes them all, a list for --exclude"),
            )
        )
    if report.attention_total:
        rows = "".join(
            f"<tr class=attention><td class=n>{n}</td><td class=id>{e(uid)}</td>"
            f"<td>{e(status_word(status))}</td>"
            f"<td>{e(message)}</td></tr>"
            for n, uid, status, message in report.attention
        )
        sections.append(
            _listing(
                _("Rows that need attention ({n:,})", n=report.attention_total),
                f"<th>{th_line}</th><th>user_id</th><th>{th_status}</th><th>{why}</th>",
                rows,
                report.attention_total - len(report.attention),
                _("the result file's status column has every row"),
            )
        )
    if report.not_in_sheet:
        sections.append(
            "<section class=wide><h2>"
            + e(not_in_sheet_lines(report.not_in_sheet)[0])
            + "</h2><ul>"
            + "".join(
                f"<li>{e(line.strip())}</li>"
                for line in not_in_sheet_lines(report.not_in_sheet)[1 : SHOWN_ROWS + 1]
            )
            + "</ul></section>"
        )
    body = "\n".join(sections)
    page_title = _("{title}: campaign report", title=title)
    sub = _("{name}: {n:,} rows", name=report.name, n=report.rows)
    return f"""<!doctype html>
<html lang="{current()}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(page_title)}</title>
<style>
* {{ box-sizing: border-box; }}
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 1.5rem clamp(.8rem, 3vw, 3rem);
  color: #1d2530; background: #f4f6f9; }}
h1 {{ font-size: 1.6rem; margin: 0 0 .2rem; }}
h2 {{ font-size: 1.1rem; margin: 0 0 .6rem; }}
.sub {{ color: #5b6673; margin: 0 0 1.2rem; }}
section {{ background: #fff; border-radius: .6rem; padding: 1rem 1.2rem; margin-bottom: 1.2rem;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 0; }}
.cards {{ display: grid; gap: 1.2rem; margin-bottom: 1.2rem;
  grid-template-columns: repeat(auto-fit, minmax(min(20rem, 100%), 1fr)); }}
.cards section {{ margin-bottom: 0; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: .35rem .6rem; text-align: left;
  vertical-align: top; }}
th {{ font-size: .85rem; color: #5b6673; font-weight: 600; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.code {{ color: #5b6673; font-size: .9em; white-space: nowrap; }}
td.id {{ white-space: nowrap; font-variant-numeric: tabular-nums; }}
table.summary td:first-child {{ font-weight: 600; }}
.cost {{ font-weight: 600; margin: .8rem 0 0; }} .note {{ color: #8a5a00; }}
.more {{ color: #5b6673; margin: .6rem 0 0; }}
.bar {{ display: flex; height: 1.2rem; margin: .9rem 0 .2rem;
  border-radius: .3rem; overflow: hidden; background: #dde3ea; }}
.bar .ok {{ background: #2e9e5b; }} .bar .bad {{ background: #d64541; }}
.bar .wait {{ background: #b8c2cc; }}
.legend {{ margin: 0 0 .4rem; }}
.legend span {{ display: inline-block; width: .9rem; height: .9rem; margin: 0 .35rem 0 1rem;
  vertical-align: -.1rem; border-radius: .15rem; }}
.legend span:first-child {{ margin-left: 0; }}
svg.chart {{ width: 100%; height: auto; display: block; max-height: 28rem; }}
svg.chart text {{ font: 14px system-ui, sans-serif; fill: #3d4752; }}
@media (max-width: 40rem) {{
  body {{ font-size: 15px; }}
  svg.chart {{ min-width: 36rem; }}
  svg.chart text {{ font-size: 24px; }}
  /* A phone reads each listed row as a short paragraph, not a table too wide for it. */
  table.list thead {{ display: none; }}
  table.list tr {{ display: block; padding: .45rem 0; border-bottom: 1px solid #dde3ea; }}
  table.list td {{ display: inline; border: 0; padding: 0 .4rem 0 0; }}
  table.list td.n::before {{ content: "{th_line} "; color: #5b6673; }}
}}
</style></head><body>
<h1>{e(title)}</h1>
<p class=sub>{e(sub)}; {e(report.span())}</p>
{body}
</body></html>
"""


def _listing(heading: str, head: str, rows: str, more: int, where: str) -> str:
    """A bounded table: its first rows, and how many more there are (and where)."""
    tail = (
        "<p class=more>"
        + html.escape(_("... and {n:,} more ({where})", n=more, where=where))
        + "</p>"
        if more > 0
        else ""
    )
    return (
        f"<section class=wide><h2>{html.escape(heading)}</h2><div class=scroll><table class=list>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{tail}</section>"
    )


def _rate_bar(report: CampaignFigures) -> str:
    """Delivered, failed and still unknown, as shares of one bar the width of the page."""
    accepted = report.accepted
    if not accepted:
        return ""
    parts = (
        ("ok", report.deliveries.get(DELIVERED, 0), _("delivered")),
        ("bad", report.deliveries.get(FAILED, 0), _("delivery failed")),
        (
            "wait",
            accepted - report.deliveries.get(DELIVERED, 0) - report.deliveries.get(FAILED, 0),
            _("no final report yet"),
        ),
    )
    spans = "".join(
        f"<span class={kind} style='width:{100 * n / accepted:.2f}%' "
        f"title='{html.escape(number(n))} {html.escape(label)}'></span>"
        for kind, n, label in parts
        if n > 0
    )
    legend = "".join(
        f"<span style='background:{BAR_COLORS[kind]}'></span>{html.escape(number(n))} "
        f"{html.escape(label)}"
        for kind, n, label in parts
        if n > 0
    )
    label = html.escape(_("delivery of the accepted messages"))
    return f"<div class=bar role=img aria-label='{label}'>{spans}</div><p class=legend>{legend}</p>"


BAR_COLORS = {"ok": "#2e9e5b", "bad": "#d64541", "wait": "#b8c2cc"}
SENT_COLOR, REPORTED_COLOR = "#3b7dd8", "#2e9e5b"


def _chart(report: CampaignFigures) -> str:
    """Bars per time bucket, accepted beside delivery reports, with both axes labelled."""
    seconds = set(report.sends) | set(report.delivered)
    if not seconds:
        return "<p>" + html.escape(_("No sends recorded in the journal.")) + "</p>"
    size = _bucket(max(seconds) - min(seconds) + 1)
    sends: Counter[int] = Counter()
    delivered: Counter[int] = Counter()
    for source, target in ((report.sends, sends), (report.delivered, delivered)):
        for second, n in source.items():
            target[second // size] += n
    first, last = min(sends | delivered), max(sends | delivered)
    span = last - first + 1
    width, height = 1000, 360
    left, right, top_pad, bottom = 70, 20, 20, 60
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max(max(sends.values(), default=0), max(delivered.values(), default=0), 1)
    step = plot_w / span
    bar = max(min(step * 0.4, 40), 1.5)

    def y(n: float) -> float:
        return top_pad + plot_h - plot_h * n / top

    parts = []
    for tick in _ticks(top):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="#e3e8ee"/><text x="{left - 8}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{number(tick)}</text>'
        )
    for bucket in range(first, last + 1):
        x = left + (bucket - first) * step + (step - 2 * bar) / 2
        for offset, counts, color in ((0.0, sends, SENT_COLOR), (bar, delivered, REPORTED_COLOR)):
            n = counts.get(bucket, 0)
            if n:
                parts.append(
                    f'<rect x="{x + offset:.1f}" y="{y(n):.1f}" width="{bar:.1f}" '
                    f'height="{top_pad + plot_h - y(n):.1f}" fill="{color}">'
                    f"<title>{number(n)}</title></rect>"
                )
    for i in range(5 if span > 1 else 1):
        bucket = first + round(i * (span - 1) / 4) if span > 1 else first
        x = left + (bucket - first + 0.5) * step
        when = dt.datetime.fromtimestamp(bucket * size, VIETNAM).strftime("%d/%m %H:%M:%S")
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 20}" text-anchor="middle">{when}</text>'
        )
    e = html.escape
    x_axis = _("time (Vietnam), one bar pair per {per}", per=_per(size))
    y_axis = _("messages per {per}", per=_per(size))
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
        f"{e(x_axis)}</text>"
        f'<text transform="translate(16 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{e(y_axis)}</text>'
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
        f'y2="{top_pad + plot_h}" stroke="#888"/>'
    )
    accepted, reports = _("accepted by eSMS"), _("delivery reports (delivered or failed)")
    aria = _("sends and deliveries over time")
    return (
        f'<p class=legend><span style="background:{SENT_COLOR}"></span>{e(accepted)}'
        f'<span style="background:{REPORTED_COLOR}"></span>'
        f"{e(reports)}</p>"
        f'<div class=scroll><svg class=chart xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(aria)}">' + "".join(parts) + "</svg></div>"
    )


def _ticks(top: int) -> list[int]:
    """Round values from 0 to `top` for the y axis, at most 6 of them."""
    step = 1
    while top / step > 5:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 5:
                step *= factor
                break
        else:
            step *= 10
    return list(range(0, top + 1, step))
