"""`make bench`: batch-sender against baselines measured in the same run, on this machine.

Builds its own data in a temporary folder, starts the simulator on
127.0.0.1 in its own process, runs every command as a subprocess and reads
its peak memory (RSS) and CPU time from the kernel (wait4), then prints one
table. Timed pairs run three times, alternating, and the medians are
compared (a send of over 50,000 rows runs once: it takes minutes).

    python bench/bench.py [--quick] [--sizes 20000,200000] [--only series,validate,...]

--quick uses small sizes and one run each (a smoke run of a minute or so);
the goals are quoted for the full sizes. --sizes (or BENCH_SIZES) picks the
size series' campaign sizes; --only (or BENCH_ONLY) runs some parts only:
series, validate, batch, rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import (
    HERE,
    PYTHON,
    make_campaign,
    measure,
    median_pair,
    send,
    send_fresh,
    simulator,
    stats,
)
from series import measure_size, table_rows


@dataclass(frozen=True)
class Sizes:
    series: tuple[int, ...]
    validate: int
    rated: int
    batch_small: int
    batch_big: int
    times: int


FULL = Sizes((20_000, 200_000), 1_000_000, 2_000, 2_000, 2_000_000, 3)
QUICK = Sizes((2_000, 20_000), 50_000, 300, 500, 50_000, 1)
PARTS = ("series", "validate", "batch", "rate")

Row = tuple[str, str, str, str, str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", ""),
        help="the size series' row counts, comma-separated (default 20000,200000)",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help=f"run only these parts, comma-separated ({', '.join(PARTS)})",
    )
    parser.add_argument(
        "--full-python",
        default=os.environ.get("BENCH_FULL_PYTHON", str(HERE.parent / ".venv" / "bin" / "python")),
        help="the test install's python, for its peak memory (skipped when it is missing)",
    )
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    series = tuple(int(n) for n in args.sizes.split(",") if n.strip()) or size.series
    parts = [p.strip() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")
    full_python = args.full_python if Path(args.full_python).exists() else None

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="batch-sender-bench-") as tmp:
        work = Path(tmp)
        if "series" in parts:
            points = []
            for n in series:
                print(f"size series: {n:,} rows ...", file=sys.stderr)
                points.append(measure_size(n, work, size.times, full_python))
            rows.extend(table_rows(points))
        if "validate" in parts:
            rows.extend(_validate(work, size))
        if "batch" in parts:
            rows.extend(_test_batch(work, size))
        if "rate" in parts:
            rows.extend(_rated(work, size))

    load = os.getloadavg()
    header = ("measure", "batch-sender", "baseline (same run)", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(f"(load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    if args.quick:
        print("(--quick: small sizes and one run each; the goals are for the full sizes)")


def _validate(work: Path, size: Sizes) -> list[Row]:
    print("validate ...", file=sys.stderr)
    huge = make_campaign(work / "validate.csv", size.validate)
    bare, checked = median_pair(
        lambda: measure([PYTHON, str(HERE / "lean_validate.py"), str(huge), "bare.csv"], work),
        lambda: measure(
            [PYTHON, "-m", "batch_sender", "validate", str(huge), "-o", "report.csv"], work
        ),
        size.times,
    )
    huge.unlink()
    return [
        (
            f"validate {size.validate:,} rows (s)",
            f"{checked.seconds:.2f}",
            f"{bare.seconds:.2f} (bare pandas)",
            f"{checked.seconds / bare.seconds:.2f}",
            "<= 1.0",
        ),
        (
            "  peak memory (MB)",
            f"{checked.peak_mb:,.0f}",
            f"{bare.peak_mb:,.0f}",
            f"{checked.peak_mb / bare.peak_mb:.2f}",
            "<= 200 MB",
        ),
    ]


def _test_batch(work: Path, size: Sizes) -> list[Row]:
    print("test batch (--limit 10) ...", file=sys.stderr)
    batch_small = make_campaign(work / "batch-small.csv", size.batch_small)
    batch_big = make_campaign(work / "batch-big.csv", size.batch_big)
    at_small, at_big = median_pair(
        lambda: send_fresh(batch_small, work, "--rate", "0", "--limit", "10", expect=10),
        lambda: send_fresh(batch_big, work, "--rate", "0", "--limit", "10", expect=10),
        size.times,
        key=lambda r: r.first_request,
    )
    return [
        (
            f"send --limit 10: first request, {size.batch_big:,}-row sheet (s)",
            f"{at_big.first_request:.2f}",
            f"{at_small.first_request:.2f} ({size.batch_small:,}-row sheet)",
            f"{at_big.first_request / at_small.first_request:.2f}",
            "<= 1.5",
        ),
        (
            "  peak memory (MB)",
            f"{at_big.peak_mb:,.0f}",
            f"{at_small.peak_mb:,.0f}",
            f"{at_big.peak_mb / at_small.peak_mb:.2f}",
            "<= 200 MB",
        ),
        ("  whole run (s)", f"{at_big.seconds:.1f}", f"{at_small.seconds:.1f}", "", ""),
    ]


def _rated(work: Path, size: Sizes) -> list[Row]:
    print("rate 100 with 200 ms latency ...", file=sys.stderr)
    rated = make_campaign(work / "rated.csv", size.rated)
    with simulator("--latency", "0.2") as url:
        send(rated, url, work, "--rate", "100")
        seen = stats(url)
    window = float(seen["send_seconds"])  # type: ignore[arg-type]
    achieved = (size.rated - 1) / window if window else 0.0
    return [
        (
            "--rate 100, 200 ms latency: achieved (messages/s)",
            f"{achieved:.1f}",
            "",
            "",
            ">= 97",
        ),
        (
            "  most requests started in any one second",
            f"{seen['busiest_second']}",
            "",
            "",
            "<= 100",
        ),
    ]


if __name__ == "__main__":
    main()
