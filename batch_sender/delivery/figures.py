"""The campaign's figures for the report: counts, reasons in plain words, cost, the lines."""

from __future__ import annotations

import datetime as dt
import decimal
from collections import Counter
from dataclasses import dataclass, field

from batch_sender.esms.delivery_report import DELIVERED, FAILED, VIETNAM
from batch_sender.i18n import N_, _, ngettext, number, shown, status_word
from batch_sender.journal.records import Record
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
    priced_unmatched: int = 0
    """Of those, reports that match no row (no message of the journal has their SMSID)."""
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
        line = ngettext(
            "cost: {cost} (TotalPrice summed over {n:,} delivery report)",
            "cost: {cost} (TotalPrice summed over {n:,} delivery reports)",
            self.priced,
            cost=_money(self.cost),
        )
        if not self.priced_unmatched:
            return line
        # Paid for, so counted; but the rows' figures above do not include them.
        return line + ngettext(
            "; {n:,} of them matches no row of this file",
            "; {n:,} of them match no row of this file",
            self.priced_unmatched,
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


# The per cent sign comes with the number: "% o" in a message would read as a printf
# placeholder to the catalog's checks.
OF_ROWS = N_("{share} of the rows")
OF_ACCEPTED = N_("{share} of accepted")


def _plain(words: str | None) -> str | None:
    return _(words) if words else words


def plain_zalo_error(error: str) -> str:
    code, _space, message = error.partition(" ")
    return _plain(ZALO_ERRORS.get(code)) or message or _("Zalo gave no reason")


def _share(n: int, of: int, what: str) -> str:
    if not of:
        return ""
    return _(what, share=shown(100 * n / of, ".1f") + "%")


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
