"""`make bench`: batch-sender against baselines measured in the same run, on this machine.

Builds its own data in a temporary folder, starts the simulator on
127.0.0.1 in its own process, runs every command as a subprocess and reads
its peak memory (RSS) from the kernel (wait4), then prints one table. Timed
pairs run three times, alternating, and the medians are compared.

    python bench/bench.py [--quick]

--quick uses small sizes and one run each (a smoke run of a minute or so);
the goals are quoted for the full sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from batch_sender.simulator.accounts import DEMO

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CREDENTIALS = ["--api-key", DEMO.api_key, "--secret-key", DEMO.secret_key, "--oaid", DEMO.oaid]
NAMES = ["Lan", "Minh", "Hương", "Dũng", "Mai", "Tuấn", "Ngọc", "Thảo", "Khoa", "Yến"]


@dataclass
class Run:
    seconds: float
    peak_mb: float
    cpu_seconds: float
    returncode: int
    started_at: float
    """time.monotonic() just before the process was started (the machine's clock on Linux)."""
    first_request: float = 0.0
    """Seconds from the start to the simulator's first send request (test-batch runs)."""


def measure(args: list[str], cwd: Path) -> Run:
    """Run a command; wall time, peak RSS and CPU time of that process alone."""
    started_at = time.monotonic()
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        stderr = process.stderr.read() if process.stderr else ""
        raise SystemExit(f"{' '.join(args)} failed ({code}): {stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, cpu, code, started_at)


def median_pair(
    first: Callable[[], Run],
    second: Callable[[], Run],
    times: int,
    key: Callable[[Run], float] = lambda r: r.seconds,
) -> tuple[Run, Run]:
    """Alternate the two measurements `times` times; the median run of each.

    Alternating spreads the machine's slow moments over both sides, so the
    ratio compares like with like.
    """
    a: list[Run] = []
    b: list[Run] = []
    for _ in range(times):
        a.append(first())
        b.append(second())
    return _median(a, key), _median(b, key)


def _median(runs: list[Run], key: Callable[[Run], float]) -> Run:
    return sorted(runs, key=key)[len(runs) // 2]


def make_campaign(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "text", "url", "ten_khach_hang"])
        for i in range(rows):
            name = NAMES[i % len(NAMES)]
            writer.writerow(
                [
                    str(7800378501923859642 - i),
                    f"Chào {name}, Shop Hoa Sen tặng bạn voucher 20% cho đơn hàng tháng 12. "
                    f"Mã của bạn: HS{i:07d}. Hạn dùng đến 31/12/2026.",
                    f"https://cdn.hoasen.vn/banners/thang12-{i % 5}.jpg",
                    f"Khách hàng {name} {i}",
                ]
            )
    return path


@contextmanager
def simulator(*options: str) -> Iterator[str]:
    process = subprocess.Popen(
        [PYTHON, "-m", "batch_sender", "simulator", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait()


def stats(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "/_simulator/stats") as response:  # noqa: S310
        return dict(json.load(response))


def send(path: Path, url: str, work: Path, *options: str) -> Run:
    output = work / f"{path.stem}-{time.monotonic_ns()}.csv"
    args = [PYTHON, "-m", "batch_sender", "send", str(path), "-o", str(output), "-q"]
    return measure([*args, "--base-url", url, *CREDENTIALS, *options], work)


def send_fresh(path: Path, work: Path, *options: str, expect: int | None = None) -> Run:
    """One send against a simulator of its own; with the time its first request arrived."""
    with simulator() as url:
        run = send(path, url, work, *options)
        seen = stats(url)
    if expect is not None and seen["accepted"] != expect:
        raise SystemExit(f"{path.name}: simulator accepted {seen['accepted']}, not {expect}")
    first = seen.get("first_send_at")
    run.first_request = float(first) - run.started_at if isinstance(first, float) else 0.0
    return run


def lean_send(path: Path, work: Path) -> Run:
    with simulator() as url:
        return measure([PYTHON, str(HERE / "lean_send.py"), url, str(path), "16"], work)


@dataclass(frozen=True)
class Sizes:
    send: int
    big_send: int
    validate: int
    rated: int
    batch_small: int
    batch_big: int
    times: int


FULL = Sizes(20_000, 200_000, 1_000_000, 2_000, 2_000, 2_000_000, 3)
QUICK = Sizes(1_000, 10_000, 50_000, 300, 500, 50_000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    quick = parser.parse_args().quick
    size = QUICK if quick else FULL

    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="batch-sender-bench-") as tmp:
        work = Path(tmp)
        print(f"building data in {work} ...", file=sys.stderr)
        small = make_campaign(work / "send-small.csv", size.send)
        big = make_campaign(work / "send-big.csv", size.big_send)
        huge = make_campaign(work / "validate.csv", size.validate)
        rated = make_campaign(work / "rated.csv", size.rated)
        batch_small = make_campaign(work / "batch-small.csv", size.batch_small)
        batch_big = make_campaign(work / "batch-big.csv", size.batch_big)

        print("send throughput ...", file=sys.stderr)
        lean, ours = median_pair(
            lambda: lean_send(small, work),
            lambda: send_fresh(small, work, "--rate", "0", expect=size.send),
            size.times,
        )
        rows.append(
            (
                f"send {size.send:,} rows, --rate 0 (messages/s)",
                f"{size.send / ours.seconds:,.0f}",
                f"{size.send / lean.seconds:,.0f} (bare aiohttp loop)",
                f"{lean.seconds / ours.seconds:.2f}",
                ">= 0.8",
            )
        )
        rows.append(
            (
                "  CPU seconds per 1,000 messages",
                f"{ours.cpu_seconds / size.send * 1000:.2f}",
                f"{lean.cpu_seconds / size.send * 1000:.2f}",
                f"{ours.cpu_seconds / lean.cpu_seconds:.2f}",
                "",
            )
        )

        print("validate ...", file=sys.stderr)
        bare, checked = median_pair(
            lambda: measure([PYTHON, str(HERE / "lean_validate.py"), str(huge), "bare.csv"], work),
            lambda: measure(
                [PYTHON, "-m", "batch_sender", "validate", str(huge), "-o", "report.csv"], work
            ),
            size.times,
        )
        rows.append(
            (
                f"validate {size.validate:,} rows (s)",
                f"{checked.seconds:.2f}",
                f"{bare.seconds:.2f} (bare pandas)",
                f"{checked.seconds / bare.seconds:.2f}",
                "<= 1.0",
            )
        )
        rows.append(
            (
                "  peak memory (MB)",
                f"{checked.peak_mb:,.0f}",
                f"{bare.peak_mb:,.0f}",
                f"{checked.peak_mb / bare.peak_mb:.2f}",
                "<= 200 MB",
            )
        )

        print("test batch (--limit 10) ...", file=sys.stderr)
        at_small, at_big = median_pair(
            lambda: send_fresh(batch_small, work, "--rate", "0", "--limit", "10", expect=10),
            lambda: send_fresh(batch_big, work, "--rate", "0", "--limit", "10", expect=10),
            size.times,
            key=lambda r: r.first_request,
        )
        rows.append(
            (
                f"send --limit 10: first request, {size.batch_big:,}-row sheet (s)",
                f"{at_big.first_request:.2f}",
                f"{at_small.first_request:.2f} ({size.batch_small:,}-row sheet)",
                f"{at_big.first_request / at_small.first_request:.2f}",
                "<= 1.5",
            )
        )
        rows.append(
            (
                "  peak memory (MB)",
                f"{at_big.peak_mb:,.0f}",
                f"{at_small.peak_mb:,.0f}",
                f"{at_big.peak_mb / at_small.peak_mb:.2f}",
                "<= 200 MB",
            )
        )
        rows.append(
            (
                "  whole run (s)",
                f"{at_big.seconds:.1f}",
                f"{at_small.seconds:.1f}",
                "",
                "",
            )
        )

        print("send memory ...", file=sys.stderr)
        long_small = send_fresh(small, work, "--rate", "0")
        long_big = send_fresh(big, work, "--rate", "0")
        rows.append(
            (
                f"send peak memory, {size.send:,} -> {size.big_send:,} rows (MB)",
                f"{long_small.peak_mb:,.0f} -> {long_big.peak_mb:,.0f}",
                "",
                f"{long_big.peak_mb / long_small.peak_mb:.2f}",
                "<= 1.3",
            )
        )

        print("rate 100 with 200 ms latency ...", file=sys.stderr)
        with simulator("--latency", "0.2") as url:
            send(rated, url, work, "--rate", "100")
            seen = stats(url)
        window = float(seen["send_seconds"])  # type: ignore[arg-type]
        achieved = (size.rated - 1) / window if window else 0.0
        rows.append(
            (
                "--rate 100, 200 ms latency: achieved (messages/s)",
                f"{achieved:.1f}",
                "",
                "",
                ">= 97",
            )
        )
        rows.append(
            (
                "  most requests started in any one second",
                f"{seen['busiest_second']}",
                "",
                "",
                "<= 100",
            )
        )

    header = ("measure", "batch-sender", "baseline (same run)", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    if quick:
        print("(--quick: small sizes and one run each; the goals are for the full sizes)")


if __name__ == "__main__":
    main()
