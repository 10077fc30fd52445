"""What each command returns: a report with `exit_code`, `counts`, `warnings` and `as_dict()`.

A report is plain data, filled by the library and read by the caller; the
CLI prints from it. `as_dict()` is JSON-ready: for `validate` and `send` it
is what `--summary-json` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_sender.errors import for_cli, for_reader
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _, status_word

if TYPE_CHECKING:
    from batch_sender.results.tally import Tally


@dataclass(frozen=True)
class RowResult:
    """One row's outcome in this run, as it is recorded (the `on_row` callback)."""

    row: int
    """The row's line number in the input (header = 1)."""
    request_id: str
    status: str
    """accepted, rejected or failed; for on_skipped_row: invalid, duplicate, excluded, unsent."""
    code: str
    """eSMS's CodeResult, empty when eSMS never answered."""
    smsid: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Work done so far out of the work known (the `on_progress` callback).

    For `send`, rows done out of the rows this run sends; for `audience`,
    user_ids found out of those eSMS says there are. The total grows while
    a big sheet is read.
    """

    done: int
    total: int


@dataclass(frozen=True)
class Problem:
    """A row that needs attention: its line, status and why."""

    row: int
    status: str
    message: str


@dataclass(frozen=True, kw_only=True)
class _Counted:
    """A result file's counts, as validate and send report them."""

    tally: Tally = field(repr=False, compare=False)

    def summary_lines(self) -> list[str]:
        """The lines a person reads: rows per status, CodeResults, the first problem rows."""
        lines = [self.tally.status_line()]
        for line in (self.tally.code_line(), self.tally.limit_line()):
            if line:
                lines.append(line)
        return lines + self.tally.problem_lines()


@dataclass(frozen=True)
class ValidateReport(_Counted):
    """What a dry run found; `as_dict()` is what `--summary-json` writes."""

    input: Path
    output: Path | None
    campaign_id: str
    rows: int
    counts: dict[str, int]
    """status -> rows: valid, invalid, duplicate, excluded."""
    problems: tuple[Problem, ...]
    """The first rows that need attention (at most 10)."""
    exit_code: ExitCode
    notes: list[str] = field(default_factory=list)
    """What the reading found about the suppression lists and hidden rows, a line each."""
    warnings: list[str] = field(default_factory=list)
    """The notes that need a look (a suppression list that matched nobody)."""
    inputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The suppression lists' matches and the hidden rows skipped, for the summary."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "validate",
            "input": str(self.input),
            "report": None if self.output is None else str(self.output),
            "campaign_id": self.campaign_id,
            **self.tally.as_dict(),
            **self.inputs,
            "warnings": list(self.warnings),
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class SendReport(_Counted):
    """What a send did; `as_dict()` is what `--summary-json` writes."""

    input: Path
    output: Path
    campaign_id: str
    rows: int
    counts: dict[str, int]
    """status -> rows in the result file: accepted, rejected, failed, unsent, ..."""
    codes: dict[str, int]
    """eSMS's CodeResult -> rows."""
    problems: tuple[Problem, ...]
    """The first rows that need attention (at most 10)."""
    sent: int
    """Rows that reached an outcome in this run."""
    seconds: float
    stopped: str | None
    """Why the run stopped before the end (an account error, "interrupted"), or None."""
    stop_code: str
    """eSMS's code when the account stopped the run (101, 103, ...), else empty."""
    exit_code: ExitCode
    plan: list[str]
    """What the run set out to do, as the CLI prints it before sending."""
    warnings: list[str] = field(default_factory=list)
    """What the run noticed but went on with (an OAID not among the account's OAs)."""
    stop_template: str | None = field(default=None, repr=False, compare=False)
    """`stopped` with its settings marked for each side's wording (see errors.for_cli)."""
    inputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The suppression lists' matches and the hidden rows skipped, for the summary."""
    adopted: dict[str, int] | None = None
    """Status -> rows taken over from a result file whose journal was missing, if any."""
    test: RowResult | None = None
    """With `test_to`: the test message's outcome (its `row`, the line whose message it was);
    nothing of the campaign was sent and its result file was not written."""
    test_to: str = ""

    @property
    def messages_per_second(self) -> float:
        return round(self.sent / self.seconds, 1) if self.seconds else 0.0

    @property
    def stopped_cli_message(self) -> str | None:
        """`stopped` in the CLI's words (--options, ESMS_* variables)."""
        return None if self.stop_template is None else for_cli(self.stop_template)

    def rate_line(self) -> str:
        """How many messages went, in how long: the line printed after the counts."""
        from batch_sender.results.tally import rate_line

        return rate_line(self.sent, self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "send",
            "input": str(self.input),
            "results": str(self.output),
            "campaign_id": self.campaign_id,
            **self.tally.as_dict(),
            "sent": self.sent,
            "seconds": round(self.seconds, 3),
            "messages_per_second": self.messages_per_second,
            "stopped": self.stopped
            if self.stop_template is None
            else for_reader(self.stop_template),
            **self.inputs,
            **({} if self.test is None else {"test": self._test_dict(self.test)}),
            "warnings": list(self.warnings),
            "adopted": self.adopted,
            "exit_code": int(self.exit_code),
        }

    def _test_dict(self, test: RowResult) -> dict[str, Any]:
        return {
            "row": test.row,
            "user_id": self.test_to,
            "RequestId": test.request_id,
            "status": test.status,
            "CodeResult": test.code,
            "SMSID": test.smsid,
            "ErrorMessage": test.message,
        }

    def test_line(self) -> str | None:
        """The test message's result line (with `test_to`)."""
        test = self.test
        if test is None:
            return None
        line = _(
            "test message to {user_id}: {status}",
            user_id=self.test_to,
            status=status_word(test.status),
        )
        if test.smsid:
            line += f", SMSID {test.smsid}"
        if test.code:
            line += f", CodeResult {test.code}"
        if test.message and test.status != "accepted":
            line += f": {test.message}"
        return line + _(" (line {line}'s message)", line=test.row)


@dataclass(frozen=True)
class PreviewReport:
    """What `preview` wrote: the first messages, and how many rows would not be sent."""

    input: Path
    output: Path
    rows: int
    to_send: int
    """Rows that would be sent."""
    left_out: int
    """Rows that would not (invalid, duplicate, excluded): the page lists them with why."""
    shown: int
    """Messages on the page."""
    exit_code: ExitCode
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"to_send": self.to_send, "left_out": self.left_out}

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "preview",
            "input": str(self.input),
            "preview": str(self.output),
            "rows": self.rows,
            **self.counts,
            "shown": self.shown,
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class CampaignReport:
    """A campaign at a glance, from its result file and journal (`report`)."""

    results: Path
    campaign_id: str
    rows: int
    counts: dict[str, int]
    """status -> rows in the result file."""
    deliveries: dict[str, int]
    """delivery outcome -> accepted rows with a report (delivered, failed, pending)."""
    cost: str
    """The sum of eSMS's TotalPrice over the delivery reports received, as a decimal."""
    lines: list[str]
    """The report as a person reads it."""
    html: Path | None = None
    """The HTML page written, if asked."""
    failed_ids: Path | None = None
    """The file of user_ids whose delivery failed, if asked."""
    failed_count: int = 0
    """Distinct user_ids whose delivery failed."""
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "report",
            "results": str(self.results),
            "campaign_id": self.campaign_id,
            "rows": self.rows,
            "statuses": self.counts,
            "deliveries": self.deliveries,
            "cost": self.cost,
            "html": None if self.html is None else str(self.html),
            "failed_ids": None if self.failed_ids is None else str(self.failed_ids),
            "failed": self.failed_count,
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class StatusReport:
    """What `status` asked eSMS's GetCallback look-up and learnt."""

    results: Path
    asked: int
    """Accepted messages with an SMSID and no final report."""
    known: int
    """Of those, how many eSMS had a record for."""
    without_smsid: int
    """Accepted rows with no SMSID: nothing to ask about."""
    counts: dict[str, int]
    """delivery outcome -> reports recorded."""
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "status",
            "results": str(self.results),
            "asked": self.asked,
            "known": self.known,
            "without_smsid": self.without_smsid,
            "reports": self.counts,
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class CallbacksReport:
    """What the callback receiver took in before it stopped (`serve_callbacks`)."""

    results: Path
    received: int
    """Reports stored."""
    counts: dict[str, int]
    """delivery outcome -> reports stored for this campaign's messages."""
    unknown: int
    """Reports that came before any send recorded their message (kept all the same)."""
    unanswered: int
    """Reports that could not be stored, so got no answer (eSMS sends them again)."""
    unmatched: int
    """Reports kept that match no message of the campaign when the receiver stopped."""
    rejected: int
    """Requests that were not reports."""
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "callbacks",
            "results": str(self.results),
            "received": self.received,
            "reports": self.counts,
            "unknown": self.unknown,
            "unanswered": self.unanswered,
            "unmatched": self.unmatched,
            "rejected": self.rejected,
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class AudienceReport:
    """The audience file `audience` wrote: each user_id once, and what eSMS could not list."""

    output: Path
    users: int
    """user_ids written."""
    description: str
    """Who they are, in words ("followers tagged 'VIP' who interacted 01/11/2026-30/11/2026")."""
    requests: int
    """QueryListUID requests made."""
    seconds: float
    exit_code: ExitCode
    warnings: list[str] = field(default_factory=list)
    """One per day eSMS could not list whole (over 10,000 ids): how many are missing."""

    @property
    def counts(self) -> dict[str, int]:
        return {"user_ids": self.users, "requests": self.requests}

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "audience",
            "output": str(self.output),
            **self.counts,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class BalanceReport:
    """The balance eSMS reports for the account's keys: they work."""

    balance: str
    """As eSMS wrote it (a whole number of VND, usually)."""
    exit_code: ExitCode = ExitCode.OK
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {}

    def as_dict(self) -> dict[str, Any]:
        return {"command": "balance", "balance": self.balance, "exit_code": int(self.exit_code)}
