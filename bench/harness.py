"""What every part of `make bench` shares: data, the simulator, timed runs of commands."""

from __future__ import annotations

import csv
import json
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
    """Run a command; wall time, peak RSS and CPU time of that process alone (bench/launch.py)."""
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage.json"
        process = subprocess.run(
            [PYTHON, str(HERE / "launch.py"), str(report), "--", *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        code = process.returncode
        if code not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed ({code}): {process.stderr}")
        usage = json.loads(report.read_text(encoding="utf-8"))
    return Run(usage["seconds"], usage["peak_mb"], usage["cpu_seconds"], code, started_at)


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
    return median(a, key), median(b, key)


def median(runs: list[Run], key: Callable[[Run], float]) -> Run:
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


def send(
    path: Path,
    url: str,
    work: Path,
    *options: str,
    output: Path | None = None,
    python: str = PYTHON,
) -> Run:
    """`batch-sender send` of `path` (to a new result file unless `output` is given)."""
    output = output or work / f"{path.stem}-{time.monotonic_ns()}.csv"
    args = [python, "-m", "batch_sender", "send", str(path), "-o", str(output), "-q"]
    return measure([*args, "--base-url", url, *CREDENTIALS, *options], work)


def send_fresh(
    path: Path,
    work: Path,
    *options: str,
    expect: int | None = None,
    output: Path | None = None,
    python: str = PYTHON,
) -> Run:
    """One send against a simulator of its own; with the time its first request arrived."""
    with simulator() as url:
        run = send(path, url, work, *options, output=output, python=python)
        seen = stats(url)
    if expect is not None and seen["accepted"] != expect:
        raise SystemExit(f"{path.name}: simulator accepted {seen['accepted']}, not {expect}")
    first = seen.get("first_send_at")
    run.first_request = float(first) - run.started_at if isinstance(first, float) else 0.0
    return run


def lean_send(path: Path, work: Path, concurrency: int = 16) -> Run:
    """The bare aiohttp loop (bench/lean_send.py) against a simulator of its own."""
    with simulator() as url:
        script = str(HERE / "lean_send.py")
        return measure([PYTHON, script, url, str(path), str(concurrency)], work)
