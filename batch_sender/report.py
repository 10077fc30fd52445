"""`report`: the campaign at a glance, as text or as one self-contained HTML page."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from batch_sender.delivery import VIETNAM
from batch_sender.journal import Journal, journal_path
from batch_sender.results import RESULT_COLUMNS, read_result_file


@dataclass
class CampaignReport:
    name: str
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    zalo_errors: Counter[str] = field(default_factory=Counter)
    sends: Counter[int] = field(default_factory=Counter)
    """Accepted messages per second (Unix time)."""
    delivered: Counter[int] = field(default_factory=Counter)
    """Final delivery reports per second."""

    def text(self) -> list[str]:
        lines = [f"{self.name}: {self.rows:,} rows"]
        for title, counts in self.tables():
            if counts:
                shown = ", ".join(f"{key} x{n:,}" for key, n in counts)
                lines.append(f"{title}: {shown}")
        return lines

    def tables(self) -> list[tuple[str, list[tuple[str, int]]]]:
        def ordered(counter: Counter[str]) -> list[tuple[str, int]]:
            return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))

        reported = sum(self.deliveries.values())
        accepted = self.statuses.get("accepted", 0)
        deliveries = ordered(self.deliveries)
        if accepted > reported:
            deliveries.append(("no report yet", accepted - reported))
        return [
            ("status", ordered(self.statuses)),
            ("CodeResult", ordered(self.codes)),
            ("delivery", deliveries),
            ("Zalo errors", ordered(self.zalo_errors)),
        ]


def build_report(results: Path) -> CampaignReport:
    header, reader = read_result_file(results)
    base = len(header) - len(RESULT_COLUMNS)
    at = {name: base + i for i, name in enumerate(RESULT_COLUMNS)}
    report = CampaignReport(results.name)
    with reader:
        for chunk in reader:
            report.rows += len(chunk)
            report.statuses.update(chunk[at["status"]].tolist())
            report.codes.update(c for c in chunk[at["CodeResult"]].tolist() if c)
            report.deliveries.update(d for d in chunk[at["delivery"]].tolist() if d)
            report.zalo_errors.update(e for e in chunk[at["delivery_error"]].tolist() if e)
    journal_file = journal_path(results)
    if journal_file.exists():
        journal = Journal(journal_file)
        try:
            report.sends.update(int(t) for t in journal.accepted_times())
            for delivery, when, received in journal.delivery_times():
                if delivery != "pending":
                    report.delivered[_second(when, received)] += 1
        finally:
            journal.close()
    return report


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
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"


def html_report(report: CampaignReport) -> str:
    """One page, no external assets: the tables and an SVG chart over time."""
    tables = "\n".join(_table(title, rows) for title, rows in report.tables() if rows)
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>{html.escape(report.name)}: campaign report</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2530; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.05rem; margin: 1.4rem 0 .4rem; }}
table {{ border-collapse: collapse; min-width: 22rem; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: .3rem .8rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.legend span {{ display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; }}
</style></head><body>
<h1>{html.escape(report.name)}: {report.rows:,} rows</h1>
{tables}
<h2>Sends and deliveries over time (Vietnam time)</h2>
{_chart(report)}
</body></html>
"""


def _table(title: str, rows: list[tuple[str, int]]) -> str:
    body = "".join(f"<tr><td>{html.escape(key)}</td><td class=n>{n:,}</td></tr>" for key, n in rows)
    return f"<h2>{html.escape(title)}</h2><table>{body}</table>"


def _chart(report: CampaignReport) -> str:
    seconds = set(report.sends) | set(report.delivered)
    if not seconds:
        return "<p>No sends recorded in the journal.</p>"
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
    return (
        f'<p class=legend><span style="background:#3b7dd8"></span>accepted'
        f'<span style="background:#2e9e5b"></span>delivery reports (delivered or failed), '
        f"per {_per(size)}</p>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="sends and deliveries over time">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#888"/>'
        f'<text x="{pad}" y="{pad - 10}" font-size="12">{top:,} per {_per(size)}</text>'
        f'<text x="{pad}" y="{height - 12}" font-size="12">{start}</text>'
        f'<text x="{width - pad}" y="{height - 12}" font-size="12" text-anchor="end">{end}</text>'
        + "".join(bars)
        + "</svg>"
    )
