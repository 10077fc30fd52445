"""The size series of `make bench`: the same campaign at each size, against baselines of that size.

At each size: the send against the bare aiohttp loop (same rows, same number
of connections, same event loop and JSON library as the product: asyncio's
default loop, the standard json module), CPU seconds per 1,000 messages of
each, the sender's peak memory (the runtime-only install this runs in, and
the test install when there is one), the journal's bytes per row; then the
rerun of the finished campaign and `report` of it, each against `validate`
of the same sheet, alternated. A size's figures are compared with the
smallest size's, so a cost that grows faster than the campaign shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    PYTHON,
    Run,
    lean_send,
    make_campaign,
    measure,
    median,
    send,
    send_fresh,
    simulator,
    stats,
)

from batch_sender.journal.files import journal_path, side_files

CONCURRENCY = 32
"""Connections for both the send and the bare loop (the issue's --concurrency 32)."""

REPEATED_UP_TO = 50_000
"""Sends of up to this many rows are timed `times` times; bigger ones once (minutes each)."""


@dataclass
class Point:
    rows: int
    lean: Run
    send: Run
    rerun: Run
    validate: Run
    report: Run
    journal_bytes: int
    full_peak_mb: float | None
    """The send's peak under the test install (pyarrow and the rest), if there is one."""


def measure_size(rows: int, work: Path, times: int, full_python: str | None) -> Point:
    sheet = make_campaign(work / f"series-{rows}.csv", rows)
    options = ("--rate", "0", "--concurrency", str(CONCURRENCY))
    outputs: list[Path] = []

    def ours(python: str = PYTHON) -> Run:
        output = work / f"series-{rows}-{time.monotonic_ns()}.csv"
        outputs.append(output)
        return send_fresh(sheet, work, *options, expect=rows, output=output, python=python)

    repeat = times if rows <= REPEATED_UP_TO else 1
    leans: list[Run] = []
    sends: list[Run] = []
    for _ in range(repeat):
        leans.append(lean_send(sheet, work, CONCURRENCY))
        sends.append(ours())
    full_peak = ours(full_python).peak_mb if full_python else None
    results = outputs[0]
    for spare in outputs[1:]:
        _remove(spare)  # a 200,000-row campaign's files are 100 MB
    journal = journal_path(results)
    journal_bytes = sum(f.stat().st_size for f in (journal, *side_files(journal)) if f.exists())

    validates: list[Run] = []
    reruns: list[Run] = []
    reports: list[Run] = []
    cli = [PYTHON, "-m", "batch_sender"]
    with simulator() as url:
        for _ in range(times):
            validates.append(measure([*cli, "validate", str(sheet), "-o", "report.csv"], work))
            reruns.append(send(sheet, url, work, *options, output=results))
            reports.append(measure([*cli, "report", str(results)], work))
        sent_again = stats(url)["accepted"]
    if sent_again:
        raise SystemExit(f"the rerun of a finished campaign sent {sent_again} messages")
    _remove(results)
    sheet.unlink()
    key = seconds
    return Point(
        rows,
        median(leans, key),
        median(sends, key),
        median(reruns, key),
        median(validates, key),
        median(reports, key),
        journal_bytes,
        full_peak,
    )


def seconds(run: Run) -> float:
    return run.seconds


def _remove(results: Path) -> None:
    journal = journal_path(results)
    for path in (results, journal, *side_files(journal)):
        path.unlink(missing_ok=True)


Row = tuple[str, str, str, str, str]


def table_rows(points: list[Point]) -> list[Row]:
    rows: list[Row] = []
    for p in points:
        n = p.rows
        rows.append(
            (
                f"send {n:,} rows, --rate 0 --concurrency {CONCURRENCY} (messages/s)",
                f"{n / p.send.seconds:,.0f}",
                f"{n / p.lean.seconds:,.0f} (bare aiohttp loop)",
                f"{p.lean.seconds / p.send.seconds:.2f}",
                ">= 0.8",
            )
        )
        rows.append(
            (
                "  CPU seconds per 1,000 messages",
                f"{p.send.cpu_seconds / n * 1000:.3f}",
                f"{p.lean.cpu_seconds / n * 1000:.3f}",
                f"{p.send.cpu_seconds / p.lean.cpu_seconds:.2f}",
                "",
            )
        )
        full = "" if p.full_peak_mb is None else f" / {p.full_peak_mb:,.0f}"
        rows.append(
            (
                "  peak memory, runtime-only" + (" / test install" if full else "") + " (MB)",
                f"{p.send.peak_mb:,.0f}{full}",
                f"{p.lean.peak_mb:,.0f} (bare loop)",
                "",
                "<= 150" + (" / 200" if full else ""),
            )
        )
        rows.append(("  journal bytes per row", f"{p.journal_bytes / n:,.0f}", "", "", ""))
        rows.append(
            (
                f"  rerun of the finished campaign (s, {p.rerun.peak_mb:,.0f} MB)",
                f"{p.rerun.seconds:.2f}",
                f"{p.validate.seconds:.2f} (validate, {p.validate.peak_mb:,.0f} MB)",
                f"{p.rerun.seconds / p.validate.seconds:.2f}",
                "<= 1.5",
            )
        )
        rows.append(
            (
                f"  report (s, {p.report.peak_mb:,.0f} MB)",
                f"{p.report.seconds:.2f}",
                f"{p.validate.seconds:.2f} (validate)",
                f"{p.report.seconds / p.validate.seconds:.2f}",
                "<= 1.0",
            )
        )
    first = points[0]
    for p in points[1:]:
        sizes = f"{p.rows:,} vs {first.rows:,} rows"
        rows.append(
            (
                f"rerun, ms per 1,000 rows: {sizes}",
                f"{_per_thousand(p.rerun, p.rows):.1f}",
                f"{_per_thousand(first.rerun, first.rows):.1f}",
                f"{_per_thousand(p.rerun, p.rows) / _per_thousand(first.rerun, first.rows):.2f}",
                "<= 1.3",
            )
        )
        rows.append(
            (
                f"report, ms per 1,000 rows: {sizes}",
                f"{_per_thousand(p.report, p.rows):.1f}",
                f"{_per_thousand(first.report, first.rows):.1f}",
                f"{_per_thousand(p.report, p.rows) / _per_thousand(first.report, first.rows):.2f}",
                "",
            )
        )
        ratio = (p.lean.seconds / p.send.seconds) / (first.lean.seconds / first.send.seconds)
        rows.append((f"send ratio: {sizes}", "", "", f"{ratio:.2f}", "no decline"))
        rows.append(
            (
                f"send peak memory: {sizes} (MB)",
                f"{p.send.peak_mb:,.0f}",
                f"{first.send.peak_mb:,.0f}",
                f"{p.send.peak_mb / first.send.peak_mb:.2f}",
                "<= 1.3",
            )
        )
    return rows


def _per_thousand(run: Run, rows: int) -> float:
    return run.seconds / rows * 1_000_000
