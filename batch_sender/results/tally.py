"""Tally: counts per status and per CodeResult, and the lines a user reads at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _, ngettext, number, status_word

FINE = frozenset({"accepted", "excluded", "valid"})
STATUS_ORDER = (
    "valid",
    "accepted",
    "rejected",
    "failed",
    "unsent",
    "invalid",
    "duplicate",
    "excluded",
)


@dataclass
class Tally:
    """What the result file holds, counted as it is written."""

    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    keep_problems: int = 10
    limit: int | None = None
    """--limit of the run: the rows it left unsent are told in one line, not listed."""
    limit_reason: str = ""
    """The ErrorMessage of a row left unsent by --limit."""
    left_unsent: int = 0
    """Rows left unsent by --limit."""

    def add(self, out: pd.DataFrame) -> None:
        self.rows += len(out)
        self.statuses.update(out["status"].tolist())
        codes = out["CodeResult"]
        self.codes.update(codes[codes != ""].tolist())
        listed = ~out["status"].isin(FINE)
        if self.limit is not None:
            # Listed one by one they would bury the rows that need a look.
            by_limit = (out["status"] == "unsent") & (out["ErrorMessage"] == self.limit_reason)
            self.left_unsent += int(by_limit.sum())
            listed &= ~by_limit
        room = self.keep_problems - len(self.problems)
        if room > 0 and listed.any():
            bad = out[listed].head(room)
            self.problems.extend(
                (int(r), s, m)
                for r, s, m in zip(bad["row"], bad["status"], bad["ErrorMessage"], strict=True)
            )

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "statuses": dict(sorted(self.statuses.items(), key=lambda kv: status_rank(kv[0]))),
            "codes": dict(sorted(self.codes.items())),
        }

    @property
    def needs_attention(self) -> bool:
        return any(n for status, n in self.statuses.items() if status not in FINE)

    def exit_code(self) -> ExitCode:
        return ExitCode.NEEDS_ATTENTION if self.needs_attention else ExitCode.OK

    def status_line(self) -> str:
        parts = [
            _("{n:,} {status}", n=self.statuses[s], status=status_word(s))
            for s in sorted(self.statuses, key=lambda s: status_rank(s))
            if self.statuses[s]
        ]
        return ngettext(
            "{n:,} row: {counts}", "{n:,} rows: {counts}", self.rows, counts=", ".join(parts)
        )

    def code_line(self) -> str | None:
        if not self.codes:
            return None
        ordered = sorted(self.codes.items(), key=lambda kv: (-kv[1], kv[0]))
        return "CodeResult: " + ", ".join(f"{code} x{number(n)}" for code, n in ordered)

    def limit_line(self) -> str | None:
        if not self.left_unsent:
            return None
        return ngettext(
            "{n:,} row left unsent by --limit {limit}: run again without --limit to send it",
            "{n:,} rows left unsent by --limit {limit}: run again without --limit to send them",
            self.left_unsent,
            limit=self.limit,
        )

    def problem_lines(self) -> list[str]:
        lines = [
            _("  line {row}: {status}: {message}", row=row, status=status_word(status), message=m)
            for row, status, m in self.problems
        ]
        shown = len(self.problems)
        total = sum(n for s, n in self.statuses.items() if s not in FINE) - self.left_unsent
        if total > shown:
            lines.append(_("  ... and {n:,} more (see the status column)", n=total - shown))
        return lines


def status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def rate_line(sent: int, seconds: float) -> str:
    speed = sent / seconds if seconds > 0 else 0.0
    return _(
        "sent {sent:,} messages in {seconds:.1f} s ({speed:,.1f} messages/s)",
        sent=sent,
        seconds=seconds,
        speed=speed,
    )
