"""The campaign's figures for the report: counts, reasons in plain words, cost, the lines."""

from __future__ import annotations

import datetime as dt
import decimal
from collections import Counter
from dataclasses import dataclass, field

from batch_sender.esms.delivery_report import DELIVERED, FAILED, VIETNAM
from batch_sender.journal.records import Record
from batch_sender.sending.progress import duration

ZALO_ERRORS = {
    # From eSMS's pages (callback-url.md, GetCallback's sample):
    "-114": "the follower's Zalo is inactive, refused the message or is too old",
    "-124": "the OA's Zalo access token is invalid (reconnect the OA in eSMS)",
    # From Zalo's OA API documentation; not on eSMS's pages:
    "-32": "Zalo's rate limit was exceeded",
    "-201": "Zalo found the message's parameters invalid",
    "-211": "the OA has used up its message quota",
    "-213": "the user does not follow the OA",
    "-216": "the OA's Zalo access token is invalid (reconnect the OA in eSMS)",
    "-230": "the user has not interacted with the OA in the last 7 days",
}
"""Zalo's error codes in plain words; an unknown code shows Zalo's own message."""

ESMS_CODES = {
    "99": "the recipient is blocked on eSMS",
    "110": "eSMS found the request data wrong",
    "124": "eSMS had this RequestId already, from another campaign or content",
    "146": "the message does not fit the account's template",
    "201": "the text holds a keyword eSMS blocks",
    "210": "eSMS refused the message's form (payload)",
    "852": "the user_id is too long",
    "853": "the user_id is missing",
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
            return "no send recorded in the journal"
        first, last = min(self.sends), max(self.sends)
        text = f"sent {_when(first)} to {_when(last, first)} ({duration(last - first)})"
        if self.delivered:
            text += f"; last delivery report {_when(max(self.delivered), first)}"
        return text + " (Vietnam time)"

    def summary(self) -> list[tuple[str, int, str]]:
        """(what, how many, share) lines: the campaign's outcome in three numbers and a half."""
        accepted = self.accepted
        lines = [("accepted by eSMS", accepted, _share(accepted, self.rows, "of the rows"))]
        if accepted:
            for key, label in ((DELIVERED, "delivered"), (FAILED, "delivery failed")):
                n = self.deliveries.get(key, 0)
                lines.append((label, n, _share(n, accepted, "of accepted")))
            pending = self.deliveries.get("pending", 0)
            if pending:
                lines.append(
                    ("still on its way", pending, _share(pending, accepted, "of accepted"))
                )
            if self.no_report:
                lines.append(
                    (
                        "no report yet",
                        self.no_report,
                        _share(self.no_report, accepted, "of accepted"),
                    )
                )
        not_sent = self.rows - accepted
        if not_sent:
            shown = ", ".join(
                f"{k} {n:,}" for k, n in self._ordered(self.statuses) if k != "accepted"
            )
            lines.append(("not accepted", not_sent, shown))
        return lines

    def failure_reasons(self) -> list[tuple[int, str, str, str]]:
        """(how many, plain words, Zalo's code, Zalo's own words) of failed deliveries."""
        return [
            (n, plain_zalo_error(error), f"Zalo {error.partition(' ')[0]}".strip(), error)
            for error, n in self._ordered(self.zalo_errors)
        ]

    def rejection_reasons(self) -> list[tuple[int, str, str, str]]:
        return [
            (n, ESMS_CODES.get(code) or message or "eSMS refused it", f"eSMS {code}", message)
            for (code, message), n in sorted(
                self.rejections.items(), key=lambda kv: (-kv[1], kv[0])
            )
        ]

    def cost_line(self) -> str:
        if not self.priced:
            return "cost: unknown (no delivery report with a TotalPrice yet)"
        return (
            f"cost: {_money(self.cost)} (TotalPrice summed over {self.priced:,} delivery "
            f"report{'s' if self.priced != 1 else ''})"
        )

    def notes(self) -> list[str]:
        notes = []
        if self.no_smsid_124:
            notes.append(
                f"{_rows(self.no_smsid_124)} no delivery status because eSMS accepted "
                "them through 124 (an earlier attempt got through) and gave no SMSID, "
                "which its reports are matched by"
            )
        if self.no_smsid_100:
            notes.append(
                f"{_rows(self.no_smsid_100)} no delivery status because eSMS's answer "
                "(100) carried no SMSID, which its reports are matched by"
            )
        return notes

    def text(self) -> list[str]:
        title = f"campaign {self.campaign_id}" if self.campaign_id else "campaign"
        lines = [f"{title} ({self.name}): {self.rows:,} rows", self.span()]
        width = max((len(label) for label, _, _ in self.summary()), default=0)
        for label, n, share in self.summary():
            lines.append(f"  {label:<{width}}  {n:>7,}  {share}".rstrip())
        for title, reasons in (
            ("why delivery failed", self.failure_reasons()),
            ("why eSMS refused rows", self.rejection_reasons()),
        ):
            if reasons:
                lines.append(f"{title}:")
                lines.extend(f"  {n:>7,}  {words} ({code})" for n, words, code, _ in reasons)
        lines.append(self.cost_line())
        lines.extend(f"note: {note}" for note in self.notes())
        lines.extend(not_in_sheet_lines(self.not_in_sheet))
        return lines

    @staticmethod
    def _ordered(counter: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _rows(n: int) -> str:
    return f"{n:,} accepted row has" if n == 1 else f"{n:,} accepted rows have"


def plain_zalo_error(error: str) -> str:
    code, _, message = error.partition(" ")
    return ZALO_ERRORS.get(code) or message or "Zalo gave no reason"


def _share(n: int, of: int, what: str) -> str:
    if not of:
        return ""
    return f"{100 * n / of:.1f}% {what}"


def _money(value: decimal.Decimal) -> str:
    whole = value.quantize(decimal.Decimal(1)) if value == value.to_integral() else value
    return f"{whole:,} VND"


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
    lines = [f"sent earlier, no longer in the sheet: {len(sends):,}"]
    for record in sends:
        smsid = record.smsid or "unknown (accepted as 124)"
        lines.append(f"  line {record.line} as sent: user_id {record.user_id}, SMSID {smsid}")
    return lines
