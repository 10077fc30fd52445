"""`make bench`: batch-sender against baselines measured in the same run, on this machine.

Builds its own data in a temporary folder, starts the simulator on
127.0.0.1 in its own process, runs every command as a subprocess and reads
its peak memory (RSS) from the kernel (wait4), then prints one table. Timed
pairs run three times, alternating, and the medians are compared.

    python bench/bench.py [--quick]

--quick uses smaller sizes (for a smoke run); the goals are quoted for the
full sizes.
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

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CREDENTIALS = [
    "--api-key",
    "SIMULATOR-API-KEY",
    "--secret-key",
    "SIMULATOR-SECRET-KEY",
    "--oaid",
    "SIMULATOR-OAID",
]
NAMES = ["Lan", "Minh", "Hương", "Dũng", "Mai", "Tuấn", "Ngọc", "Thảo", "Khoa", "Yến"]


@dataclass
class Run:
    seconds: float
    peak_mb: float
    cpu_seconds: float
    returncode: int


def measure(args: list[str], cwd: Path) -> Run:
    """Run a command; wall time, peak RSS and CPU time of that process alone."""
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
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, code)


def median_pair(first: Callable[[], Run], second: Callable[[], Run], times: int) -> tuple[Run, Run]:
    """Alternate the two measurements `times` times; the median run of each.

    Alternating spreads the machine's slow moments over both sides, so the
    ratio compares like with like.
    """
    a: list[Run] = []
    b: list[Run] = []
    for _ in range(times):
        a.append(first())
        b.append(second())
    return _median(a), _median(b)


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    quick = parser.parse_args().quick
    send_rows = 2_000 if quick else 20_000
    big_send_rows = 20_000 if quick else 200_000
    validate_rows = 100_000 if quick else 1_000_000
    rated_rows = 300 if quick else 2_000

    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="batch-sender-bench-") as tmp:
        work = Path(tmp)
        print(f"building data in {work} ...", file=sys.stderr)
        small = make_campaign(work / "send-small.csv", send_rows)
        big = make_campaign(work / "send-big.csv", big_send_rows)
        huge = make_campaign(work / "validate.csv", validate_rows)
        rated = make_campaign(work / "rated.csv", rated_rows)

        print("send throughput ...", file=sys.stderr)
        with simulator() as url:
            lean = measure([PYTHON, str(HERE / "lean_send.py"), url, str(small), "16"], work)
        with simulator() as url:
            ours = send(small, url, work, "--rate", "0")
            accepted = stats(url)["accepted"]
        assert accepted == send_rows, accepted
        rows.append(
            (
                f"send {send_rows:,} rows, --rate 0 (messages/s)",
                f"{send_rows / ours.seconds:,.0f}",
                f"{send_rows / lean.seconds:,.0f} (bare aiohttp loop)",
                f"{lean.seconds / ours.seconds:.2f}",
                ">= 0.6",
            )
        )
        rows.append(
            (
                "  CPU seconds per 1,000 messages",
                f"{ours.cpu_seconds / send_rows * 1000:.2f}",
                f"{lean.cpu_seconds / send_rows * 1000:.2f}",
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
            3,
        )
        rows.append(
            (
                f"validate {validate_rows:,} rows (s)",
                f"{checked.seconds:.2f}",
                f"{bare.seconds:.2f} (bare pandas)",
                f"{checked.seconds / bare.seconds:.2f}",
                "<= 1.5",
            )
        )
        rows.append(
            (
                "  peak memory (MB)",
                f"{checked.peak_mb:,.0f}",
                f"{bare.peak_mb:,.0f}",
                f"{checked.peak_mb / bare.peak_mb:.2f}",
                "<= 300 MB",
            )
        )

        print("send memory ...", file=sys.stderr)
        with simulator() as url:
            at_small = send(small, url, work, "--rate", "0")
        with simulator() as url:
            at_big = send(big, url, work, "--rate", "0")
        rows.append(
            (
                f"send peak memory, {send_rows:,} -> {big_send_rows:,} rows (MB)",
                f"{at_small.peak_mb:,.0f} -> {at_big.peak_mb:,.0f}",
                "",
                f"{at_big.peak_mb / at_small.peak_mb:.2f}",
                "<= 1.3",
            )
        )

        print("rate 100 with 200 ms latency ...", file=sys.stderr)
        with simulator("--latency", "0.2") as url:
            send(rated, url, work, "--rate", "100")
            seen = stats(url)
        window = float(seen["send_seconds"])  # type: ignore[arg-type]
        achieved = (rated_rows - 1) / window if window else 0.0
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


if __name__ == "__main__":
    main()
