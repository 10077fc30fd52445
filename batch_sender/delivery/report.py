"""`report`: the campaign at a glance for the marketer, as text or one self-contained HTML page.

What it tells: which campaign, when it went out, how many messages eSMS
accepted and how many Zalo then delivered or failed (with percentages),
why they failed in plain words (Zalo's code kept beside), what it cost
(the sum of eSMS's TotalPrice in the delivery reports), and which
followers to leave out next time (`--failed-ids`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from batch_sender.errors import UsageError
from batch_sender.esms.delivery_report import DELIVERED, FAILED, VIETNAM
from batch_sender.i18n import N_, _, current, ngettext, number, shown, status_word
from batch_sender.journal.files import journal_path
from batch_sender.journal.records import Record
from batch_sender.journal.store import Journal
from batch_sender.options import Reading
from batch_sender.results.result_file import read_result_file
from batch_sender.results.rows import RESULT_COLUMNS, readable

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
    """Sends of rows deleted from the sheet since (issue 11): in the journal, not the file."""

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
            duration=_duration(last - first),
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


def _duration(seconds: int) -> str:
    if seconds < 60:
        return _("{s} s", s=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("{m} min {s} s", m=minutes, s=seconds)
    hours, minutes = divmod(minutes, 60)
    return _("{h} h {m} min", h=hours, m=minutes)


def build_report(
    results: Path, user_id_column: str = Reading.user_id_column, *, need_ids: bool = False
) -> CampaignFigures:
    """Read the result file and its journal; need_ids: the user_id column must be found."""
    header, reader = read_result_file(results)
    try:
        base = len(header) - len(RESULT_COLUMNS)
        at = {name: base + i for i, name in enumerate(RESULT_COLUMNS)}
        uid_at = _user_id_position(results, header[:base], user_id_column)
        if uid_at is None and need_ids:
            names = ", ".join(repr(h) for h in header[:base]) or "none"
            raise UsageError(
                _(
                    "{results}: no {user_id_column} column for --failed-ids; pass "
                    "--user-id-column (input columns: {names})",
                    results=results,
                    user_id_column=repr(user_id_column),
                    names=names,
                )
            )
    except BaseException:
        reader.close()  # its file, whatever stops the report here
        raise
    report = CampaignFigures(results.name)
    failed_seen: set[str] = set()
    with reader:
        for chunk in reader:
            report.rows += len(chunk)
            status = chunk[at["status"]].tolist()
            code = chunk[at["CodeResult"]].tolist()
            delivery = chunk[at["delivery"]].tolist()
            report.statuses.update(status)
            report.codes.update(c for c in code if c)
            report.deliveries.update(d for d in delivery if d)
            smsid = chunk[at["SMSID"]].tolist()
            # A result file written for Excel has them made inert ('=...): shown as eSMS sent them.
            message = [readable(m) for m in chunk[at["ErrorMessage"]].tolist()]
            error = [readable(e) for e in chunk[at["delivery_error"]].tolist()]
            uids = chunk[uid_at].tolist() if uid_at is not None else [""] * len(chunk)
            for i, row_status in enumerate(status):
                if row_status == "rejected":
                    report.rejections[(code[i], message[i])] += 1
                elif row_status != "accepted":
                    continue
                elif delivery[i] == FAILED:
                    report.zalo_errors[error[i] or ""] += 1
                    uid = uids[i].strip()
                    if uid and uid not in failed_seen:
                        failed_seen.add(uid)
                        report.failed_ids.append(uid)
                elif not delivery[i] and not smsid[i]:
                    if code[i] == "124":
                        report.no_smsid_124 += 1
                    else:
                        report.no_smsid_100 += 1
    journal_file = journal_path(results)
    if journal_file.exists():
        journal = Journal(journal_file, read_only=True)  # an archive may be read-only
        try:
            report.campaign_id = journal.meta("campaign_id") or ""
            report.not_in_sheet = sends_not_in_results(results, journal)
            report.sends.update(int(t) for t in journal.accepted_times())
            for outcome, when, received in journal.delivery_times():
                if outcome != "pending":
                    report.delivered[_second(when, received)] += 1
            for price in journal.prices():
                report.cost += decimal.Decimal(price)
                report.priced += 1
        finally:
            journal.close()
    return report


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


# --- sends of rows deleted from the sheet (issue 11) -----------------------------


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
    """One page, no external assets: the numbers, the reasons, the cost, a chart over time."""
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
    sections = [f"<table class=summary>{summary}</table>", _rate_bar(report)]
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
            sections.append(f"<h2>{e(heading)}</h2><table>{body}</table>")
    sections.append(f"<p class=cost>{e(report.cost_line())}</p>")
    sections.extend(f"<p class=note>{e(note)}</p>" for note in report.notes())
    body = "\n".join(sections)
    page_title = _("{title}: campaign report", title=title)
    sub = _("{name}: {n:,} rows", name=report.name, n=report.rows)
    over_time = _("Sends and deliveries over time (Vietnam time)")
    return f"""<!doctype html>
<html lang="{current()}"><head><meta charset="utf-8">
<title>{e(page_title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2530; max-width: 60rem; }}
h1 {{ font-size: 1.4rem; margin-bottom: .2rem; }}
h2 {{ font-size: 1.05rem; margin: 1.4rem 0 .4rem; }}
.sub {{ color: #5b6673; margin-top: 0; }}
table {{ border-collapse: collapse; min-width: 26rem; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: .3rem .8rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.code {{ color: #5b6673; font-size: .9em; white-space: nowrap; }}
table.summary td:first-child {{ font-weight: 600; }}
.cost {{ font-weight: 600; margin-top: 1.2rem; }} .note {{ color: #8a5a00; }}
.bar {{ display: flex; height: 1.1rem; max-width: 40rem; margin: 1rem 0 .2rem;
  border-radius: .3rem; overflow: hidden; background: #dde3ea; }}
.bar .ok {{ background: #2e9e5b; }} .bar .bad {{ background: #d64541; }}
.bar .wait {{ background: #b8c2cc; }}
.legend span {{ display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; }}
</style></head><body>
<h1>{e(title)}</h1>
<p class=sub>{e(sub)}; {e(report.span())}</p>
{body}
<h2>{e(over_time)}</h2>
{_chart(report)}
</body></html>
"""


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
    label = html.escape(_("delivery of the accepted messages"))
    return f"<div class=bar role=img aria-label='{label}'>{spans}</div>"


def _chart(report: CampaignFigures) -> str:
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
    width, height, pad = 760, 240, 40
    top = max(max(sends.values(), default=0), max(delivered.values(), default=0))
    step = (width - 2 * pad) / span
    bar = max(step / 2 - 1, 1)

    def y(n: int) -> float:
        return height - pad - (height - 2 * pad) * n / top

    series = ((0.0, sends, "#3b7dd8"), (bar, delivered, "#2e9e5b"))
    bars = []
    for bucket in range(first, last + 1):
        x = pad + (bucket - first) * step
        for offset, counts, color in series:
            n = counts.get(bucket, 0)
            if n:
                bars.append(
                    f'<rect x="{x + offset:.1f}" y="{y(n):.1f}" width="{bar:.1f}" '
                    f'height="{height - pad - y(n):.1f}" fill="{color}"><title>{n:,}</title></rect>'
                )
    start = dt.datetime.fromtimestamp(first * size, VIETNAM).strftime("%d/%m %H:%M:%S")
    end = dt.datetime.fromtimestamp((last + 1) * size, VIETNAM).strftime("%d/%m %H:%M:%S")
    e = html.escape
    per_bucket = _("{n:,} per {per}", n=top, per=_per(size))
    legend = _("delivery reports (delivered or failed), per {per}", per=_per(size))
    aria = _("sends and deliveries over time")
    return (
        f'<p class=legend><span style="background:#3b7dd8"></span>{e(_("accepted"))}'
        f'<span style="background:#2e9e5b"></span>'
        f"{e(legend)}</p>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{e(aria)}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#888"/>'
        f'<text x="{pad}" y="{pad - 10}" font-size="12">{e(per_bucket)}</text>'
        f'<text x="{pad}" y="{height - 12}" font-size="12">{start}</text>'
        f'<text x="{width - pad}" y="{height - 12}" font-size="12" text-anchor="end">{end}</text>'
        + "".join(bars)
        + "</svg>"
    )
