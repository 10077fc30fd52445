"""The real CLI against the simulator over 127.0.0.1: faults, kills, interrupts, reruns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.simulator.config import Faults, SimulatorConfig
from batch_sender.simulator.server import STATS_PATH

from .conftest import (
    CREDENTIALS,
    RunningSimulator,
    message_rows,
    read_results,
    simulator_running,
    write_csv,
)


def test_2000_rows_with_5_percent_faults_each_way(
    tmp_path: Path, faulty_esms: RunningSimulator
) -> None:
    rows = message_rows(2000)
    bad: dict[int, list[str]] = {
        10: ["12ab", "x", "https://x.vn/a.jpg"],
        500: ["1", "x", "https://x.vn/a.webp"],
    }
    for index, row in bad.items():
        rows[index] = row
    path = write_csv(tmp_path / "big.csv", rows)
    result = CliRunner().invoke(
        cli,
        [
            *("send", str(path), "-o", "r.csv", "--rate", "0", "--concurrency", "32"),
            *("--backoff", "0.01", "--max-attempts", "8", *faulty_esms.args),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output  # the two invalid rows need attention
    results = read_results(Path("r.csv"))
    stats = faulty_esms.stats()

    assert [int(r["row"]) for r in results] == list(range(2, 2002))
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    assert {int(r["row"]) - 2 for r in results if r["status"] == "invalid"} == set(bad)
    accepted = [r for r in results if r["status"] == "accepted"]
    assert len(accepted) == 1998
    # Each way of failing really happened...
    assert stats["http_errors"] > 50 and stats["codes"]["160"] > 50 and stats["dropped"] > 50
    # ...and still each message was accepted exactly once by the simulator's own count.
    assert stats["accepted"] == 1998
    assert set(stats["messages"]) == {r["RequestId"] for r in accepted}
    for done in accepted:
        if done["CodeResult"] == "100":
            assert done["SMSID"] == stats["messages"][done["RequestId"]]["SMSID"]
        else:  # a dropped answer, then 124 for our own RequestId: accepted, SMSID unknown
            assert (done["CodeResult"], done["SMSID"]) == ("124", "")
    assert sum(r["CodeResult"] == "124" for r in accepted) == stats["dropped"]
    assert "CodeResult: 100 x" in result.stdout


# --- subprocesses: the installed command, kill -9 and SIGTERM ------------------------


def stats_of(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + STATS_PATH, timeout=5) as response:  # noqa: S310
        return dict(json.load(response))


def send_process(path: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    args = ["send", str(path), "-o", "r.csv", "--base-url", url, *CREDENTIALS]
    return subprocess.Popen(
        [sys.executable, "-m", "batch_sender", *args, "--rate", "0", "--concurrency", "8", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def assert_complete(path: Path, rows: list[list[str]], url: str) -> None:
    results = read_results(path)
    assert [int(r["row"]) for r in results] == list(range(2, len(rows) + 2))
    assert [r["user_id"] for r in results] == [row[0] for row in rows]
    assert {r["status"] for r in results} == {"accepted"}
    stats = stats_of(url)
    assert stats["accepted"] == len(rows)  # each message delivered exactly once
    assert set(stats["messages"]) == {r["RequestId"] for r in results}


@pytest.mark.slow
def test_the_command_end_to_end(tmp_path: Path, simulator_process: str) -> None:
    rows = message_rows(50)
    path = write_csv(tmp_path / "c.csv", rows)
    process = send_process(path, simulator_process)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "c.csv: 50 rows: 50 accepted" in out
    assert_complete(Path("r.csv"), rows, simulator_process)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [3, 150, "all-accepted"])
def test_kill_9_at_any_moment_then_rerun(
    tmp_path: Path, simulator_process: str, kill_after: int | str
) -> None:
    rows = message_rows(300)
    path = write_csv(tmp_path / "c.csv", rows)
    process = send_process(path, simulator_process)
    if kill_after == "all-accepted":
        # Sending is over: the process is writing (or about to write) the result file.
        wait_until(lambda: stats_of(simulator_process)["accepted"] >= len(rows))
    else:
        wait_until(lambda: stats_of(simulator_process)["requests"] >= int(kill_after))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    if Path("r.csv").exists():  # a result file is whole or absent, never half
        assert len(read_results(Path("r.csv"))) == len(rows)

    rerun = send_process(path, simulator_process)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "resuming campaign 'c'" in err
    assert_complete(Path("r.csv"), rows, simulator_process)
    assert not list(Path().glob(".r.csv.*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_finishes_in_flight_rows_and_exits_130(
    tmp_path: Path, simulator_process: str, sig: signal.Signals
) -> None:
    rows = message_rows(300)
    path = write_csv(tmp_path / "c.csv", rows)
    process = send_process(path, simulator_process)
    wait_until(lambda: stats_of(simulator_process)["requests"] >= 40)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Interrupted: rerun the same command to continue." in err
    results = read_results(Path("r.csv"))
    statuses = [r["status"] for r in results]
    assert set(statuses) == {"accepted", "unsent"}
    # Every request that went out was recorded: nothing in flight was lost.
    assert statuses.count("accepted") == stats_of(simulator_process)["accepted"]
    assert statuses.count("unsent") > 0

    rerun = send_process(path, simulator_process)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert_complete(Path("r.csv"), rows, simulator_process)


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "batch_sender", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert out.stdout.startswith("batch-sender, version ")


@pytest.mark.slow
def test_a_second_ctrl_c_quits_at_once_and_the_journal_stays_usable(tmp_path: Path) -> None:
    rows = message_rows(20)
    path = write_csv(tmp_path / "c.csv", rows)
    with simulator_running(SimulatorConfig(faults=Faults(latency=5))) as slow:
        url = slow.url
        process = send_process(path, url)
        wait_until(lambda: stats_of(url)["requests"] >= 8)  # eight answers 5 s away
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        # Iterating ends at EOF: a process that died fails here instead of spinning.
        assert any("stopping" in line for line in process.stderr)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.communicate(timeout=30)
        # Not the five seconds that finishing the requests in flight would take.
        assert time.monotonic() - started < 2.5
        assert process.returncode == 130

    with simulator_running(SimulatorConfig()) as simulator:
        fresh = simulator.url
        rerun = send_process(path, fresh)
        _, err = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, err
        assert "resuming campaign 'c'" in err
        assert [r["status"] for r in read_results(Path("r.csv"))] == ["accepted"] * 20
