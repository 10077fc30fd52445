"""The Python API as a data team drives it: inside a running loop, quietly, with exceptions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

import pytest

import batch_sender
from batch_sender import InputError, Progress, RowResult, SendReport
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import (
    RunningSimulator,
    message_rows,
    read_results,
    simulator_running,
    write_csv,
)
from .test_integration import stats_of


class Account(TypedDict):
    api_key: str
    secret_key: str
    oaid: str


ACCOUNT = Account(api_key=SIMULATOR_API_KEY, secret_key=SIMULATOR_SECRET_KEY, oaid=SIMULATOR_OAID)

# Sleeps in small steps until its stdin closes; prints each step that took 0.1 s or more.
CONTROL = (
    "import sys, threading, time\n"
    "stop = threading.Event()\n"
    "threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()\n"
    "last = time.monotonic()\n"
    "while not stop.is_set():\n"
    "    time.sleep(0.005)\n"
    "    now = time.monotonic()\n"
    "    if now - last >= 0.1:\n"
    "        print(last, now, flush=True)\n"
    "    last = now\n"
)

# What a data team's script does; it prints nothing itself and reports through a file.
SCRIPT = """
import asyncio, json, signal, subprocess, sys, time
import batch_sender
from batch_sender.simulator.accounts import DEMO

URL = sys.argv[1]
CONTROL = sys.argv[2]
ACCOUNT = dict(api_key=DEMO.api_key, secret_key=DEMO.secret_key, oaid=DEMO.oaid,
               base_url=URL, rate=0)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
BEFORE = [signal.getsignal(s) for s in SIGNALS]
found = {}


def handlers_unchanged(handlers):
    return all(signal.getsignal(s) is h for s, h in zip(SIGNALS, handlers))


async def main():
    loop = asyncio.get_running_loop()
    in_loop = [signal.getsignal(s) for s in SIGNALS]  # asyncio.run's own SIGINT handler
    gaps, changed, done = [], [], asyncio.Event()

    async def tick():
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append((last, now))
            last = now
            if not handlers_unchanged(in_loop):
                changed.append("signal.signal")
            if getattr(loop, "_signal_handlers", None):
                changed.append("loop.add_signal_handler")

    # A process of its own that only sleeps: when it too was kept waiting, the
    # machine was busy (other tests, other users), not our loop blocked.
    control = subprocess.Popen([sys.executable, "-c", CONTROL], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    ticker = asyncio.create_task(tick())
    rows = []
    a, b = await asyncio.gather(
        batch_sender.send_async("a.csv", "a-results.csv", on_row=rows.append, **ACCOUNT),
        batch_sender.send_async("b.csv", "b-results.csv", **ACCOUNT),
    )
    done.set()
    await ticker
    told = control.communicate("")[0]
    starved = [tuple(map(float, line.split())) for line in told.splitlines() if line]
    blocked = [
        end - start for start, end in gaps
        if end - start >= 0.25 and not any(s < end and start < e for s, e in starved)
    ]
    found.update(
        max_gap=max(blocked, default=0.0), ticks=len(gaps), changed=sorted(set(changed)),
        rows_heard=len(rows),
        a=a.as_dict(), b=b.as_dict(),
    )


asyncio.run(main())
c = batch_sender.send("c.csv", "c-results.csv", **ACCOUNT)
found["c"] = c.as_dict()
try:
    batch_sender.validate("bad.csv")
except batch_sender.InputError as exc:
    found["error"] = dict(type=type(exc).__name__, path=str(exc.path), line=exc.line,
                          column=exc.column, message=str(exc))
found["handlers_unchanged"] = handlers_unchanged(BEFORE)
with open("found.json", "w") as f:
    json.dump(found, f)
"""


@pytest.mark.slow
def test_two_sends_in_a_running_loop_then_send_then_a_bad_file(
    tmp_path: Path,
    simulator_process: str,
) -> None:
    campaigns = {
        "a": message_rows(300),
        "b": message_rows(300, start=1_000),
        "c": message_rows(50, start=2_000),
    }
    for name, rows in campaigns.items():
        write_csv(tmp_path / f"{name}.csv", rows)
    write_csv(tmp_path / "bad.csv", [["1", "hi"]], header=["user_id", "text"])

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, simulator_process, CONTROL],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # nothing printed
    found = json.loads(Path("found.json").read_text())
    assert found["changed"] == []  # no signal handler installed, even for a moment
    assert found["handlers_unchanged"]
    # The loop kept turning: no pause of 0.25 s that a bystander process did not share.
    assert found["max_gap"] < 0.25, found["max_gap"]
    assert found["ticks"] > 50
    assert found["rows_heard"] == 300
    for name, rows in campaigns.items():
        summary = found[name]
        assert (summary["statuses"], summary["exit_code"]) == ({"accepted": len(rows)}, 0)
        assert summary["sent"] == len(rows)
        results = read_results(Path(f"{name}-results.csv"))
        assert [r["status"] for r in results] == ["accepted"] * len(rows)
    stats = stats_of(simulator_process)
    assert stats["accepted"] == 650  # every message delivered once
    assert len(stats["messages"]) == 650
    assert found["error"] == {
        "type": "InputError",
        "path": "bad.csv",
        "line": 1,
        "column": None,
        "message": "bad.csv: line 1: missing column 'url' (url_column); "
        "columns found: 'user_id', 'text'",
    }


def test_send_reports_counts_codes_and_each_row(tmp_path: Path, esms: RunningSimulator) -> None:
    rows = [*message_rows(4), ["12ab", "hi", "https://x.vn/a.jpg"]]
    path = write_csv(tmp_path / "c.csv", rows)
    heard: list[RowResult] = []
    progress: list[Progress] = []
    plan: list[str] = []

    report = batch_sender.send(
        path,
        tmp_path / "r.csv",
        base_url=esms.url,
        rate=0,
        on_row=heard.append,
        on_progress=progress.append,
        on_info=plan.append,
        summary_json=tmp_path / "s.json",
        **ACCOUNT,
    )

    assert isinstance(report, SendReport)
    assert report.exit_code == 1 and report.rows == 5
    assert report.counts == {"accepted": 4, "invalid": 1}
    assert report.codes == {"100": 4}
    assert report.sent == 4 and report.stopped is None and report.stop_code == ""
    assert report.problems[0].row == 6 and report.problems[0].status == "invalid"
    assert plan == ["campaign 'c': 4 to send", *plan[1:]]
    assert sorted(r.row for r in heard) == [2, 3, 4, 5]
    stats = esms.stats()
    assert {r.request_id: r.smsid for r in heard} == {
        rid: m["SMSID"] for rid, m in stats["messages"].items()
    }
    assert progress[0] == Progress(0, 4) and progress[-1] == Progress(4, 4)
    written = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert written == report.as_dict()
    assert written["statuses"] == report.counts and written["codes"] == report.codes


async def test_cancelling_the_task_stops_like_ctrl_c(tmp_path: Path) -> None:
    rows = message_rows(200)
    path = write_csv(tmp_path / "c.csv", rows)
    config = SimulatorConfig(seed=1, faults=Faults(latency=0.05))
    heard: list[RowResult] = []
    with simulator_running(config) as esms:
        task = asyncio.create_task(
            batch_sender.send_async(
                path,
                tmp_path / "r.csv",
                base_url=esms.url,
                rate=0,
                concurrency=8,
                on_row=heard.append,
                **ACCOUNT,
            )
        )
        while len(heard) < 20:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = await asyncio.to_thread(esms.stats)

    results = read_results(tmp_path / "r.csv")  # written, whole, in input order
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    accepted = [r for r in results if r["status"] == "accepted"]
    assert {r["status"] for r in results} == {"accepted", "unsent"}
    # In-flight rows finished and were recorded: everything eSMS accepted is in the file.
    assert len(accepted) == stats["accepted"] == len(heard) < len(rows)
    for row in accepted:
        assert row["SMSID"] == stats["messages"][row["RequestId"]]["SMSID"]


async def test_a_stop_event_returns_an_interrupted_report(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(100))
    config = SimulatorConfig(seed=1, faults=Faults(latency=0.05))
    stop = asyncio.Event()

    def on_row(_: RowResult) -> None:
        stop.set()

    with simulator_running(config) as esms:
        report = await batch_sender.send_async(
            path,
            tmp_path / "r.csv",
            base_url=esms.url,
            rate=0,
            concurrency=4,
            on_row=on_row,
            stop=stop,
            **ACCOUNT,
        )
    assert (report.stopped, report.exit_code) == ("interrupted", 130)
    assert report.counts["unsent"] > 0 and report.counts["accepted"] >= 1
    assert report.as_dict()["exit_code"] == 130


async def test_check_images_inside_a_running_loop(tmp_path: Path) -> None:
    # No image server: the URL cannot be fetched, and the check says so per row.
    path = write_csv(tmp_path / "c.csv", [["1", "hi", "http://127.0.0.1:9/a.jpg"]])
    report = await batch_sender.validate_async(path, check_images=True)
    assert report.counts == {"invalid": 1}
    assert report.problems[0].message == "image: cannot fetch it (ClientConnectorError)"


def test_validate_raises_input_error_with_where(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        batch_sender.validate(tmp_path / "nope.csv")
    assert (caught.value.path, caught.value.line) == (tmp_path / "nope.csv", None)
    assert str(caught.value) == f"{tmp_path / 'nope.csv'}: no such file"


def test_public_names() -> None:
    assert set(batch_sender.__all__) >= {
        "validate",
        "send",
        "validate_async",
        "send_async",
        "ValidateReport",
        "SendReport",
        "InputError",
        "AccountError",
    }
    assert (Path(batch_sender.__file__).parent / "py.typed").exists()
